"""A real browser: headless Chromium types a prompt, clicks Run and waits for both images to render."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app_server import running_app
from browser import CHROMEDRIVER, CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"),
]

SHOTS = Path(os.environ.get("LINA_SCREENSHOTS", "/tmp/lina-screenshots"))
WAIT_S = 600  # an upper bound only: a busy 2-core machine can take minutes for the first run


def rendered(driver, css: str) -> bool:
    """True once the element holds an <img> that the browser has decoded (non-zero natural size)."""
    return driver.execute_script(
        "const i = document.querySelector(arguments[0] + ' img');"
        "return !!(i && i.complete && i.naturalWidth > 0);", css)


def test_prompt_run_and_both_images_render():
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from browser import chrome

    with running_app() as url:
        driver = chrome(1500, 2400)
        try:
            driver.get(url)
            WebDriverWait(driver, WAIT_S).until(lambda d: rendered(d, "#csg-graph"))
            box = driver.find_element(By.CSS_SELECTOR, "#prompt textarea")
            box.clear()
            box.send_keys("a snake eats a bird")
            driver.find_element(By.CSS_SELECTOR, "#run").click()
            WebDriverWait(driver, WAIT_S).until(lambda d: rendered(d, "#baseline") and rendered(d, "#lina"))
            assert rendered(driver, "#slider")
            scores = driver.find_element(By.CSS_SELECTOR, "#scores").text
            assert "Baseline" in scores and "LINA" in scores and "seed" in scores
            SHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SHOTS / "browser_run.png"))
            assert (SHOTS / "browser_run.png").stat().st_size > 10_000
        finally:
            driver.quit()
