"""The trust checks in a real browser: the Saliency page's checks and sanity check, and the presentation's story of
the honest model and the cheating one, at a projector's 1280×720 and at 1400×1000; screenshots in artifacts/."""

from __future__ import annotations

import re

import pytest
import test_browser
from test_browser import _LAYOUT_PROBLEMS, CHROMIUM, SCREENSHOTS, _screenshot_whole_page, _settled

# The same server and browser fixtures as the other browser tests.
server, page = test_browser.server, test_browser.page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
if CHROMIUM is None:
    pytestmark = [*pytestmark, pytest.mark.skip(reason="Debian's chromium is not installed")]

SIZES = [(1280, 720), (1400, 1000)]
SANITY = "Sanity check: does the map change when the model's weights are made random?"


def _switch(page, key: str, label: str, on: bool = True) -> None:
    """Clicks the toggle of that key where it is not as wanted, and waits for the rerun."""
    if page.locator(f".st-key-{key} input").is_checked() != on:
        page.get_by_test_id("stMain").get_by_text(label, exact=True).click()
    _settled(page)


@pytest.mark.parametrize("width, height", SIZES)
def test_saliency_trust_checks_and_sanity_check_read_cleanly_beside_the_maps(page, server, width, height):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Saliency", exact=True).click()
    main = page.get_by_test_id("stMain")
    _settled(page)
    _switch(page, "saliency_trust", "Can these maps be trusted? Check them")
    run = main.get_by_role("button", name="Run the checks")
    if run.count():  # not kept yet in this server
        expect(main.get_by_text(re.compile(r"^4 map checks to compute: 768 model passes"))).to_have_count(1)
        run.click()
    expect(main.get_by_text("Deletion AUC ↓")).to_have_count(4, timeout=300_000)
    expect(main.get_by_text("Pointing game", exact=True)).to_have_count(4)
    _switch(page, "saliency_trust_curves", "Show the curves")
    expect(main.locator("[data-testid=stVegaLiteChart]")).to_have_count(8, timeout=60_000)  # curves and parts
    problems = page.evaluate(_LAYOUT_PROBLEMS)
    main.get_by_text("Is the map true to the model?").first.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / f"trust-saliency-{width}x{height}.png")
    _screenshot_whole_page(page, SCREENSHOTS / f"trust-saliency-whole-{width}x{height}.png")

    _switch(page, "saliency_sanity", SANITY)
    run = main.get_by_role("button", name="Run the sanity check")
    if run.count():
        run.click()
    expect(main.get_by_text("Numbers per step")).to_have_count(4, timeout=300_000)
    _settled(page)
    problems += page.evaluate(_LAYOUT_PROBLEMS)
    main.get_by_text("Sanity check", exact=True).scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / f"trust-sanity-{width}x{height}.png")
    # Off again, for the other tests of this server.
    _switch(page, "saliency_trust_curves", "Show the curves", on=False)
    _switch(page, "saliency_trust", "Can these maps be trusted? Check them", on=False)
    _switch(page, "saliency_sanity", SANITY, on=False)
    page.set_viewport_size({"width": 1500, "height": 1000})
    assert problems == []


@pytest.mark.parametrize("width, height", SIZES)
def test_presentation_story_shows_the_honest_and_the_cheating_model_side_by_side(page, server, width, height):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": height})
    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Presentation", exact=True).click()
    main = page.get_by_test_id("stMain")
    main.get_by_text("Honest model vs cheating model", exact=True).click()
    expect(main.get_by_text(re.compile(r"^demo-efficientnet: other dog"))).to_have_count(1, timeout=180_000)
    expect(main.get_by_text(re.compile(r"^demo-shortcut: dachshund"))).to_have_count(1)
    says = re.compile(r"demo-shortcut says dachshund \((100|>99\.9)%\), \d+% of its map on the logo")
    main.get_by_text(says).wait_for(timeout=180_000)
    _settled(page)
    pictures = page.locator(".st-key-present_pictures [data-testid=stImage] img")
    assert pictures.count() == 3
    bottoms = [pictures.nth(i).bounding_box() for i in range(3)]
    problems = page.evaluate(_LAYOUT_PROBLEMS)
    page.screenshot(path=SCREENSHOTS / f"trust-story-{width}x{height}.png")
    main.get_by_text("Dog 1 · other dog", exact=True).click()  # the default again, for other tests
    _settled(page)
    page.set_viewport_size({"width": 1500, "height": 1000})
    assert all(box["y"] + box["height"] <= height for box in bottoms), bottoms  # a projector shows them whole
    assert problems == []
