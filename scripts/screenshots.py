"""Write assets/screenshots/*.png: the app's main flows in headless Chromium, with the committed model, and
the layout with a video backend (a tiny random Wan pipeline: noise, but the baseline | LINA videos show).

Run from the repository root: `python scripts/screenshots.py` (needs Debian's chromium and chromium-driver)."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and the browser and app helpers of the tests

from app_server import running_app  # noqa: E402
from browser import chrome  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from test_browser import WAIT_S, rendered  # noqa: E402
from wan_tiny import tiny_wan_pipeline  # noqa: E402

from lina_core.backends.registry import load_backend  # noqa: E402
from lina_core.backends.wan import WanBackend  # noqa: E402
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


@contextmanager
def browser_on(engine: Engine):
    """Chromium on the app around ``engine``, once the parsed graph shows."""
    with running_app(engine) as url:
        driver = chrome(1500, 3000)
        try:
            driver.get(url)
            WebDriverWait(driver, WAIT_S).until(lambda d: rendered(d, "#csg-graph"))
            yield driver
        finally:
            driver.quit()


def playing(driver, css: str) -> bool:
    """True once the element holds a <video> with a decoded frame."""
    return driver.execute_script(
        "const v = document.querySelector(arguments[0] + ' video'); return !!(v && v.readyState >= 2);", css)


def run(driver, prompt: str, predicted: bool, videos: tuple[str, ...] = ()) -> None:
    """Type ``prompt``, click Run, wait for both stills (and the ``videos``) to show."""
    switch = driver.find_element(By.CSS_SELECTOR, "#predicted input")
    if switch.is_selected() != predicted:
        switch.click()
    before = scores(driver)
    box = driver.find_element(By.CSS_SELECTOR, "#prompt textarea")
    box.clear()
    box.send_keys(prompt)
    driver.find_element(By.CSS_SELECTOR, "#run").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: finished(scores(d), before, predicted) and rendered(d, "#baseline")
                                        and rendered(d, "#lina") and all(playing(d, css) for css in videos))
    time.sleep(2)


def save(driver, name: str) -> None:
    driver.save_screenshot(str(OUT / f"{name}.png"))
    print(f"wrote {OUT / name}.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with browser_on(Engine(load_backend())) as driver:
        for name, (prompt, predicted) in FLOWS.items():
            run(driver, prompt, predicted)
            save(driver, name)
    wan = WanBackend.from_pipeline(tiny_wan_pipeline(), size=(96, 160, 17), max_sequence_length=32)
    with browser_on(Engine(wan)) as driver:
        run(driver, "a bird eats a snake", False, ("#baseline-video", "#lina-video"))
        save(driver, "video_backend")


if __name__ == "__main__":
    main()
