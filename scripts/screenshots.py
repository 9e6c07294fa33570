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
from test_browser import WAIT_S, rendered  # noqa: E402

from lina_core.backends.registry import load_backend  # noqa: E402
from lina_core.engine import Engine  # noqa: E402

OUT = Path("assets/screenshots")
FLOWS = {  # name: (prompt, use predicted interventions)
    "mirror": ("A red ball on a small mirror", False),
    "bird_eats_snake": ("a bird eats a snake", False),
    "jar": ("there is more dirt than empty space in the jar", False),
    "predicted": ("a blue cube on a small mirror", True),
}


def scores(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#scores").text


def finished(text: str, before: str, predicted: bool) -> bool:
    """New scores from θ of the right source, with no progress shown over them ("3/20 steps | 2.5s")."""
    source = f"θ ({'predicted' if predicted else 'manual'})"
    return text != before and source in text and "|" not in text and "%" not in text


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with running_app(Engine(load_backend())) as url:
        driver = chrome(1500, 3000)
        try:
            driver.get(url)
            WebDriverWait(driver, WAIT_S).until(lambda d: rendered(d, "#csg-graph"))
            for name, (prompt, predicted) in FLOWS.items():
                switch = driver.find_element(By.CSS_SELECTOR, "#predicted input")
                if switch.is_selected() != predicted:
                    switch.click()
                before = scores(driver)
                box = driver.find_element(By.CSS_SELECTOR, "#prompt textarea")
                box.clear()
                box.send_keys(prompt)
                driver.find_element(By.CSS_SELECTOR, "#run").click()
                WebDriverWait(driver, WAIT_S).until(
                    lambda d: finished(scores(d), before, predicted) and rendered(d, "#baseline") and rendered(d, "#lina"))
                time.sleep(2)
                driver.save_screenshot(str(OUT / f"{name}.png"))
                print(f"wrote {OUT / name}.png")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
