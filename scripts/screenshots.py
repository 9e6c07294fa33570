"""Write assets/screenshots/*.png: the app's main flows in headless Chromium, with the committed model.

Run from the repository root: `python scripts/screenshots.py` (needs Debian's chromium and chromium-driver)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the browser and app helpers of the tests

from app_server import running_app  # noqa: E402
from browser import chrome  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from test_browser import rendered  # noqa: E402

from lina_core.backends.registry import load_backend  # noqa: E402
from lina_core.engine import Engine  # noqa: E402

OUT = Path("assets/screenshots")
FLOWS = {
    "mirror": "A red ball on a small mirror",
    "bird_eats_snake": "a bird eats a snake",
    "jar": "there is more dirt than empty space in the jar",
}


def scores(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#scores").text


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with running_app(Engine(load_backend())) as url:
        driver = chrome(1500, 2600)
        try:
            driver.get(url)
            WebDriverWait(driver, 120).until(lambda d: rendered(d, "#csg-graph"))
            for name, prompt in FLOWS.items():
                before = scores(driver)
                box = driver.find_element(By.CSS_SELECTOR, "#prompt textarea")
                box.clear()
                box.send_keys(prompt)
                driver.find_element(By.CSS_SELECTOR, "#run").click()
                WebDriverWait(driver, 180).until(
                    lambda d: scores(d) != before and rendered(d, "#baseline") and rendered(d, "#lina"))
                time.sleep(2)
                driver.save_screenshot(str(OUT / f"{name}.png"))
                print(f"wrote {OUT / name}.png")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
