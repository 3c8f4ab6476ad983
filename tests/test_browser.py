"""A real `streamlit run` server driven by Debian's Chromium through Playwright; screenshots in artifacts/."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM, ROOT, launch_chromium, start_server
from core import dataset
from core.images import encode_png

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real server and browser: seconds each
if CHROMIUM is None and os.environ.get("CI") != "true":
    pytestmark = [
        *pytestmark,
        pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)"),
    ]


@pytest.fixture(scope="module")
def server():
    assert CHROMIUM, "chromium is missing: .ci/run installs it with apt-get"
    (ROOT / "artifacts").mkdir(exist_ok=True)
    log = open(ROOT / "artifacts" / "streamlit.log", "w")
    try:
        process, url = start_server(output=log, timeout=90)
    except RuntimeError as error:
        pytest.fail(f"{error}; see artifacts/streamlit.log")
    yield url
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(120_000)
        yield page
        browser.close()


def _wait_until_idle(page) -> None:
    """No rerun in progress and every image in the main area loaded (they arrive after the text)."""
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=180_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stMain] [data-testid=stSkeleton]')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete && i.naturalWidth > 0)",
        timeout=60_000,
    )
    page.wait_for_timeout(500)  # charts and tables draw on a canvas after their data arrives


def _screenshot_whole_page(page, path: Path) -> None:
    """Streamlit scrolls inside its main block, so a full-page screenshot is one window tall: grow the window
    to the content's height for the picture, then put it back."""
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=stMain] .block-container').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height + 120), 6000)})
    page.wait_for_timeout(700)
    _wait_until_idle(page)
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(size)


def test_upload_shows_both_models_predictions_and_a_screenshot(page, server, tmp_path):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(server)
    page.get_by_text("Classification", exact=True).first.wait_for()
    page.get_by_text("demo-efficientnet", exact=True).first.wait_for()
    _wait_until_idle(page)
    page.screenshot(path=SCREENSHOTS / "classification-samples.png", full_page=True)

    dog = dataset.generate(41, 1)
    upload = tmp_path / "my-dog.png"
    upload.write_bytes(encode_png(dog.pixels))
    page.locator(".st-key-uploads").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
    main = page.get_by_test_id("stMain")
    main.get_by_text("my-dog.png", exact=False).first.wait_for()
    row = page.locator(f".st-key-image_{hashlib.sha256(upload.read_bytes()).hexdigest()[:16]}")
    # The row is drawn with the image first, each model's predictions as soon as they are in.
    expect(row.get_by_test_id("stVegaLiteChart")).to_have_count(2, timeout=120_000)
    _wait_until_idle(page)
    for name in ("demo-resnet", "demo-efficientnet"):
        assert row.get_by_text(name, exact=True).count() == 1
    verdicts = row.get_by_text(f"{dataset.LABELS[dog.label]} ·", exact=False)
    assert verdicts.count() == 2  # both models call the generated dog by its true class
    assert row.get_by_test_id("stVegaLiteChart").count() == 2  # a chart of the top classes per model
    page.screenshot(path=SCREENSHOTS / "classification-upload.png", full_page=True)
    assert (SCREENSHOTS / "classification-upload.png").stat().st_size > 50_000


@pytest.mark.parametrize(
    "title, expected, count, screenshot",
    [
        ("Saliency", "· explaining “", 4, "saliency.png"),  # two sample images, two models
        ("Bounding boxes", "IoU with the true box", 4, "boxes.png"),
        ("Method grid", " s · colour limit ", 6, "grid.png"),  # every gradient method, one image and model
        ("Report", "Agreement, mean over the images", 1, "report-page.png"),
    ],
)
def test_explanation_pages_show_their_pictures(page, server, title, expected, count, screenshot):
    from playwright.sync_api import expect

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    captions = page.get_by_test_id("stMain").get_by_text(re.compile(re.escape(expected)))
    expect(captions).to_have_count(count, timeout=180_000)
    _wait_until_idle(page)
    _screenshot_whole_page(page, SCREENSHOTS / screenshot)


def test_saliency_page_names_its_colour_scale_and_shows_a_colour_bar_with_its_meaning(page, server):
    from playwright.sync_api import expect

    from core.explain import METHODS

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Saliency", exact=True).click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile(r"\(this map's own\)$"))).to_have_count(4, timeout=180_000)
    expect(main.get_by_text(re.compile("^Colour scale: each map its own"))).to_have_count(1)
    meaning = main.get_by_text(f"Colours: {METHODS['saliency'].legend}", exact=True)
    expect(meaning).to_have_count(1)
    _wait_until_idle(page)
    bars = page.evaluate(
        "[...document.querySelectorAll('[data-testid=stMain] img')].filter(i => i.naturalHeight === 14)"
        ".map(i => [i.naturalWidth, i.getBoundingClientRect().width])"
    )
    assert len(bars) == 1 and bars[0][0] == 256 and bars[0][1] > 150  # one colour bar, across its column
    main.get_by_text("Shared", exact=True).click()
    expect(main.get_by_text(re.compile(r"\(shared\)"))).to_have_count(4, timeout=120_000)
    expect(main.get_by_text(re.compile("^Colour scale: one for every map"))).to_have_count(1)


def test_shap_page_shows_the_cost_then_runs_on_a_click(page, server):
    from playwright.sync_api import expect

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("SHAP and LIME", exact=True).click()
    main = page.get_by_test_id("stMain")
    main.get_by_text("model passes each", exact=False).first.wait_for()
    main.get_by_role("button", name="Run SHAP (partition, blur masker)").click()
    expect(main.get_by_text(re.compile("· explaining “"))).to_have_count(4, timeout=240_000)
    _wait_until_idle(page)
    page.screenshot(path=SCREENSHOTS / "shap.png", full_page=True)


def test_a_long_run_says_what_it_explains_and_a_stop_keeps_nothing_and_leaves_the_page_usable(page, server):
    from playwright.sync_api import expect

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("SHAP and LIME", exact=True).click()
    main = page.get_by_test_id("stMain")
    main.get_by_role("radio", name="LIME", exact=True).click()  # a segmented control's options are radios
    main.get_by_text("Parameters", exact=True).click()
    samples = main.get_by_role("spinbutton", name="Num samples")
    samples.fill("3000")  # long enough to watch: about 60 batches of model passes per image and model
    samples.press("Enter")
    main.get_by_role("button", name="Run LIME").click()
    # What is being done, while it is done: the image, the model and the method, and how far it is.
    doing = main.get_by_text(re.compile(r"^Explaining \S+ with demo-resnet \(LIME\): [1-9]\d?% · 1 of 4$"))
    expect(doing).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stStatusWidget")).to_be_visible()  # Streamlit's running indicator, with its Stop
    main.get_by_role("button", name="Stop").click()
    stopped = main.get_by_text(re.compile(r"^Stopped: 4 LIME explanations were not computed"))
    expect(stopped).to_be_visible(timeout=60_000)  # after the model passes under way, on a busy machine seconds
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=30_000)
    assert main.get_by_text(re.compile("· explaining “")).count() == 0
    # Nothing half done was kept: run again, the first explanation is computed again from the start.
    main.get_by_role("button", name="Run again").click()
    expect(doing).to_be_visible(timeout=120_000)
    main.get_by_role("button", name="Stop").click()
    expect(stopped).to_be_visible(timeout=60_000)
    # The page is as usable as before: another setting runs to the end.
    samples.fill("60")
    samples.press("Enter")
    main.get_by_role("button", name="Run LIME").click()
    expect(main.get_by_text(re.compile("· explaining “"))).to_have_count(4, timeout=240_000)
    _wait_until_idle(page)
    assert main.get_by_text(re.compile(r"^Stopped: ")).count() == 0


def test_compare_page_and_its_report_download(page, server, tmp_path):
    from playwright.sync_api import expect

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Compare models", exact=True).click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile("^explaining “"))).to_have_count(4, timeout=180_000)
    expect(main.get_by_test_id("stMetric")).to_have_count(8)  # four scores under each of the two pairs
    _wait_until_idle(page)
    _screenshot_whole_page(page, SCREENSHOTS / "compare.png")

    with page.expect_download(timeout=120_000) as download:
        main.get_by_role("button", name="Download report").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    assert download.value.suggested_filename == "report-saliency.html"
    text = report.read_text()
    # Per image: the image, both models' overlays and the method's colour bar.
    assert text.count("src='data:image/") == 2 * (1 + 2 + 1) and "Same pixel ranking" in text
    # The report as a reader sees it: opened from disk, offline, nothing requested from anywhere.
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    page.get_by_text("Model cards").wait_for()
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    page.screenshot(path=SCREENSHOTS / "report.png", full_page=True)


def test_presentation_view_is_clean_and_switches_sample_in_one_click(page, server):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 720})  # a projector
    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Presentation", exact=True).click()
    main = page.get_by_test_id("stMain")
    main.get_by_text("What does the model look at?").wait_for()
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    expect(main.get_by_test_id("stExpander")).to_have_count(0)  # no settings on show
    expect(main.get_by_text(re.compile(r"^demo-(resnet|efficientnet): "))).to_have_count(2, timeout=120_000)
    expect(main.get_by_text(re.compile("^True class: other dog"))).to_have_count(1)
    _wait_until_idle(page)
    page.screenshot(path=SCREENSHOTS / "presentation.png")
    main.get_by_text("Chelsea", exact=True).click()
    expect(main.get_by_text(re.compile(r"^demo-resnet: .*\(\d+%\)"))).to_have_count(1, timeout=120_000)
    # A photo: no known class (the old image's line stays until the rerun ends, seconds on a busy machine).
    expect(main.get_by_text(re.compile("^True class:"))).to_have_count(0, timeout=120_000)
    _wait_until_idle(page)
    page.screenshot(path=SCREENSHOTS / "presentation-photo.png")
    # Each model's dachshund: drawn on choosing it, under a bar that says what is drawn, with a Stop that keeps
    # nothing and offers to run it again.
    main.get_by_text("Each model's dachshund", exact=True).click()
    drawing = main.get_by_text(re.compile(r"^Drawing a dachshund as demo-resnet pictures it: \d+%$"))
    expect(drawing).to_be_visible(timeout=120_000)
    main.get_by_role("button", name="Stop").click()
    stopped = main.get_by_text(re.compile(r"^Stopped: drawing a dachshund as demo-(resnet|efficientnet) pictures it"))
    expect(stopped).to_be_visible(timeout=60_000)
    expect(main.get_by_text("Explanation", exact=True)).to_have_count(0)  # no method applies
    main.get_by_role("button", name="Run again").click()
    expect(main.get_by_text(re.compile(r"\(its own\): >?\d+\.\d+% sure it is a dachshund"))).to_have_count(
        2, timeout=300_000
    )
    _wait_until_idle(page)
    pictures = page.locator(".st-key-present_pictures [data-testid=stImage] img")
    assert pictures.count() == 2
    boxes = [pictures.nth(i).bounding_box() for i in range(2)]
    readings = main.get_by_text(re.compile(r"^demo-(resnet|efficientnet) itself "))  # the notes' last lines
    notes = [readings.nth(i).bounding_box() for i in range(readings.count())]
    page.mouse.move(0, 0)  # no picture's toolbar over the headings
    page.screenshot(path=SCREENSHOTS / "presentation-dachshund.png")
    problems = page.evaluate(_LAYOUT_PROBLEMS)
    main.get_by_text("Dog 1 · other dog", exact=True).click()  # the default again, for other tests
    _wait_until_idle(page)
    page.set_viewport_size({"width": 1500, "height": 1000})
    # Whole in a projector's window, and as large as the explanations' pictures.
    assert all(box["x"] >= 0 and box["y"] >= 0 for box in boxes), boxes
    assert all(box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 720 for box in boxes), boxes
    assert min(box["height"] for box in boxes) > 200, boxes
    assert len(notes) == 2 and all(box["y"] + box["height"] <= 720 for box in notes), notes  # the notes too
    assert problems == []


def test_deployment_check_and_adding_a_model_in_the_sidebar(page, server, tmp_path):
    from playwright.sync_api import expect

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Deployment check", exact=True).click()
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name="Convert and compare").click()
    expect(main.get_by_text(re.compile(r"predicts the same class as the original on all \d+ images"))).to_have_count(
        1, timeout=180_000
    )
    with page.expect_download(timeout=60_000) as download:
        main.get_by_role("button", name="Download .tflite").click()
    tflite = tmp_path / download.value.suggested_filename
    download.value.save_as(tflite)
    with page.expect_download(timeout=60_000) as download:
        main.get_by_role("button", name="Download its card (.json)").click()
    card = tmp_path / download.value.suggested_filename
    download.value.save_as(card)
    _wait_until_idle(page)
    page.screenshot(path=SCREENSHOTS / "deploy.png")

    # The downloaded file goes back in through the sidebar, as a user would do it.
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Add your model").click()
    sidebar.locator(".st-key-own_model_file").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(tflite))
    sidebar.locator(".st-key-own_model_card").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(card))
    for key in ("own_model_file", "own_model_card"):  # both arrived (each shows its size) before the form is sent
        size = sidebar.locator(f".st-key-{key}").get_by_text(re.compile(r"^\d+(\.\d+)?(B|KB|MB)$"))
        expect(size).to_have_count(1, timeout=60_000)
    sidebar.get_by_role("button", name="Add model").click()
    # The note under the form confirms it, under the name its card gives, in full.
    sidebar.get_by_text(re.compile(r"^Added “demo-(resnet|efficientnet)-float16”, now model A\.$")).wait_for()
    page.get_by_test_id("stSidebarNav").get_by_text("Classification", exact=True).click()
    expect(main.get_by_text(re.compile(r"^demo-(resnet|efficientnet)-float16$"))).to_have_count(2, timeout=120_000)
    _wait_until_idle(page)
    _screenshot_whole_page(page, SCREENSHOTS / "own-model.png")


def test_an_uploaded_model_is_deleted_when_its_session_ends(page, server):
    import glob
    import tempfile

    from playwright.sync_api import expect

    def folders() -> set[str]:
        return set(glob.glob(os.path.join(tempfile.gettempdir(), "explain-uploads-*")))

    before = folders()
    visitor = page.context.browser.new_page()  # a session of its own
    visitor.goto(server)
    visitor.get_by_text("demo-efficientnet", exact=True).first.wait_for()
    # No waiting for the first run to end: the form is sent while the new session may still be loading.
    sidebar = visitor.get_by_test_id("stSidebar")
    sidebar.get_by_text("Add your model").click()
    model = str(ROOT / "models" / "demo-efficientnet.keras")
    sidebar.locator(".st-key-own_model_file").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(model)
    size = sidebar.locator(".st-key-own_model_file").get_by_text(re.compile(r"^\d+(\.\d+)?(B|KB|MB)$"))
    expect(size).to_have_count(1, timeout=60_000)  # the file has arrived (it shows its size) before the form is sent
    sidebar.get_by_role("button", name="Add model").click()
    sidebar.get_by_text(re.compile(r"^Added “demo-efficientnet \(2\)”")).wait_for(timeout=120_000)
    # Its predictions on the page: the model was loaded from the session's folder.
    visitor.get_by_test_id("stMain").get_by_text(re.compile(r"^demo-efficientnet \(")).first.wait_for(timeout=120_000)
    (created,) = folders() - before
    assert any(Path(created).rglob("demo-efficientnet.keras"))
    visitor.close()  # the tab goes: its session disconnects
    visitor.context.close()
    deadline = time.time() + 30
    while os.path.exists(created) and time.time() < deadline:
        time.sleep(0.5)
    assert not os.path.exists(created)


def test_evaluate_page_on_the_bundled_set_a_confusion_cell_opens_its_gallery_and_an_image_its_explanations(
    page, server
):
    from playwright.sync_api import expect

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Evaluate", exact=True).click()
    main = page.get_by_test_id("stMain")
    main.get_by_text("Where it goes wrong", exact=True).wait_for(timeout=300_000)
    accuracy = main.get_by_test_id("stMetric").filter(has_text=re.compile(r"^Accuracy\d"))
    expect(accuracy).to_have_count(2, timeout=180_000)
    _wait_until_idle(page)
    _screenshot_whole_page(page, SCREENSHOTS / "evaluate.png")
    # The cell of demo-resnet's matrix for dachshunds it called other dogs: header and rows are 35 pixels, the
    # last two columns (other dog, dachshund) about 74 and 81.
    grid = page.locator(".st-key-evaluation_confusion_0 [data-testid=stDataFrame]")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    grid.click(position={"x": box["width"] - 81 - 37, "y": 35 + 35 + 17})
    cell = page.locator(".st-key-evaluation_cell_0")
    expect(
        cell.get_by_text(re.compile(r"^demo-resnet: given dachshund, answered other dog · \d+ images$"))
    ).to_have_count(1, timeout=60_000)
    first = cell.get_by_test_id("stCaptionContainer").first.inner_text().splitlines()[0]
    _wait_until_idle(page)
    cell.screenshot(path=SCREENSHOTS / "evaluate-cell.png")
    cell.get_by_role("button", name="Explain").first.click()
    expect(main.locator("h1").first).to_have_text("Saliency", timeout=60_000)
    main.get_by_text(f"Opened from the evaluation: {first} (true class: dachshund).").wait_for()
    expect(main.get_by_text(f"{first} — true class: dachshund")).to_have_count(1, timeout=180_000)
    _wait_until_idle(page)
    page.screenshot(path=SCREENSHOTS / "evaluate-opened.png")
    main.get_by_role("button", name="Remove").click()  # back to the sidebar's own selection for the other tests
    expect(main.get_by_text(re.compile("^Opened from the evaluation"))).to_have_count(0)


def test_evaluate_page_takes_a_zipped_set(page, server, tmp_path):
    import io
    import zipfile

    from playwright.sync_api import expect

    archive = tmp_path / "my-dogs.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for index in range(6):
            dog = dataset.generate(61, index)
            zipped.writestr(f"my-dogs/{dataset.LABELS[dog.label]}/{index}.png", encode_png(dog.pixels))
    archive.write_bytes(buffer.getvalue())
    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Evaluate", exact=True).click()
    main = page.get_by_test_id("stMain")
    main.get_by_text("Upload a zip", exact=True).click()
    page.locator(".st-key-evaluation_zip").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(archive))
    main.get_by_text(re.compile(r"^my-dogs\.zip: 6 images")).wait_for(timeout=120_000)
    main.get_by_text("Where it goes wrong", exact=True).wait_for(timeout=120_000)
    accuracy = main.get_by_test_id("stMetric").filter(has_text=re.compile(r"^Accuracy\d"))
    expect(accuracy).to_have_count(2, timeout=180_000)
    _wait_until_idle(page)
    page.screenshot(path=SCREENSHOTS / "evaluate-zip.png")
    main.get_by_text("Bundled: generated dogs, set 23", exact=True).click()  # the default again, for other tests
    main.get_by_text(re.compile(r"^generated dogs, set 23: 200 images")).wait_for(timeout=120_000)


# Whatever the window, nothing a person must read is cut short or out of line: every text that Streamlit would
# end with "…" fits, every button lies inside the column that holds it, and pictures shown side by side start
# level. Returns one line per problem.
_LAYOUT_PROBLEMS = """
() => {
  const main = document.querySelector('[data-testid=stMain]');
  const problems = [];
  const name = (el) => (el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 40);
  for (const el of main.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    if (style.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + 1 && name(el))
      problems.push('cut short: ' + name(el));
  }
  for (const button of main.querySelectorAll('button')) {
    const box = button.getBoundingClientRect();
    if (!box.width) continue;
    for (let up = button.parentElement; up && up !== main; up = up.parentElement) {
      if (getComputedStyle(up).overflowX === 'visible') continue;
      const frame = up.getBoundingClientRect();
      if (box.right > frame.right + 1 || box.left < frame.left - 1) problems.push('hidden: ' + name(button));
      break;
    }
  }
  for (const row of main.querySelectorAll('[data-testid=stHorizontalBlock]')) {
    const columns = [...row.children];
    const tops = columns
      .map((column) => column.querySelector('[data-testid=stImage] img'))
      .filter((img) => img && img.closest('[data-testid=stHorizontalBlock]') === row)
      .map((img) => Math.round(img.getBoundingClientRect().top));
    if (tops.length > 1 && Math.max(...tops) - Math.min(...tops) > 2) problems.push('pictures not level: ' + tops);
  }
  return problems;
}
"""


def _settled(page) -> None:
    """The script has stopped running for a second and every picture has loaded."""
    quiet_since = None
    deadline = time.time() + 300
    while time.time() < deadline:
        page.wait_for_timeout(250)
        state = page.locator("[data-test-script-state]")
        if state.count() and state.first.get_attribute("data-test-script-state") == "running":
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:
            break
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete)", timeout=60_000
    )


@pytest.mark.parametrize("width, height", [(1280, 720), (1400, 1000)])
def test_no_page_cuts_words_short_or_pictures_out_of_line(page, server, tmp_path, width, height):
    from skimage import data

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(server)
    page.get_by_text("demo-efficientnet", exact=True).first.wait_for()
    photo = tmp_path / "chelsea.png"  # a real photo: the models are unsure of it, so their warnings show too
    photo.write_bytes(encode_png(data.chelsea()))
    page.locator(".st-key-uploads").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(photo))
    _settled(page)
    problems = {}
    pages = ["Classification", "Saliency", "Bounding boxes", "Compare models", "Method grid", "Inside the model"]
    pages += ["Report", "Evaluate", "Batch results"]
    for title in [*pages, "Deployment check", "Presentation"]:
        page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        _settled(page)
        if title == "Deployment check":
            page.get_by_test_id("stMain").get_by_role("button", name="Convert and compare").click()
            page.get_by_test_id("stMain").get_by_text("Download its card (.json)").wait_for(timeout=180_000)
            _settled(page)
        if title == "Presentation":
            # For a projector: the pictures fit in the window, without scrolling.
            pictures = page.locator(".st-key-present_pictures [data-testid=stImage] img")
            expect_count = 1 + 2  # the image and each model's explanation
            page.wait_for_function(
                f"() => document.querySelectorAll('.st-key-present_pictures [data-testid=stImage] img').length "
                f"== {expect_count}",
                timeout=180_000,
            )
            _settled(page)
            bottoms = [pictures.nth(i).bounding_box() for i in range(pictures.count())]
            assert all(box["y"] + box["height"] <= height for box in bottoms), (width, height, bottoms)
            # A small generated sample is shown as large as its explanations, not at its 160 pixels.
            page.get_by_test_id("stMain").get_by_text("Dog 1 · other dog", exact=True).click()
            page.get_by_test_id("stMain").get_by_text("True class: other dog", exact=False).wait_for()
            _settled(page)
            sizes = [pictures.nth(i).bounding_box()["height"] for i in range(pictures.count())]
            assert max(sizes) - min(sizes) <= 2 and min(sizes) > 200, sizes
        problems[title] = page.evaluate(_LAYOUT_PROBLEMS)
        page.screenshot(path=SCREENSHOTS / f"layout-{width}x{height}-{title.lower().replace(' ', '-')}.png")
    assert {title: found for title, found in problems.items() if found} == {}
    page.set_viewport_size({"width": 1500, "height": 1000})


# The sidebar's sample images: two columns of thumbnail-and-checkbox pairs. Returns, per column, the top of each
# checkbox and the size of each thumbnail (CSS pixels).
_SAMPLE_COLUMNS = """
() => {
  const expander = [...document.querySelectorAll('[data-testid=stSidebar] [data-testid=stExpander]')]
    .find((el) => el.innerText.includes('Sample images'));
  const row = expander.querySelector('[data-testid=stHorizontalBlock]');
  return [...row.children].map((column) => ({
    checkboxes: [...column.querySelectorAll('[data-testid=stCheckbox]')]
      .map((box) => Math.round(box.getBoundingClientRect().top)),
    pictures: [...column.querySelectorAll('[data-testid=stImage] img')]
      .map((img) => [Math.round(img.getBoundingClientRect().width), Math.round(img.getBoundingClientRect().height)]),
  }));
}
"""


@pytest.mark.parametrize("width, height", [(1280, 720), (1400, 1000)])
def test_sample_checkboxes_in_the_sidebar_sit_level_under_thumbnails_of_one_shape(page, server, width, height):
    from core.samples import sample_images

    page.set_viewport_size({"width": width, "height": height})
    page.goto(server)
    page.get_by_text("demo-efficientnet", exact=True).first.wait_for()
    _settled(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stSidebar] img')].every(i => i.complete && i.naturalWidth)"
    )
    columns = page.evaluate(_SAMPLE_COLUMNS)
    count = len(sample_images())
    assert [len(column["checkboxes"]) for column in columns] == [count // 2, count // 2], columns
    for place, level in enumerate(zip(*(column["checkboxes"] for column in columns), strict=True)):
        assert max(level) - min(level) <= 2, f"row {place + 1}: checkbox tops {level}"
    pictures = {tuple(size) for column in columns for size in column["pictures"]}
    assert len(pictures) == 1, f"thumbnails of {len(pictures)} sizes: {pictures}"
    ((across, down),) = pictures
    assert abs(across - down) <= 1 and across > 60, pictures  # square, and not shrunk to nothing
    last = page.get_by_test_id("stSidebar").get_by_test_id("stCheckbox").last
    last.scroll_into_view_if_needed()  # the photos, the last rows, in the picture
    page.screenshot(path=SCREENSHOTS / f"sidebar-samples-{width}x{height}.png")
    page.set_viewport_size({"width": 1500, "height": 1000})


@pytest.mark.parametrize("width, height", [(1280, 720), (1400, 1000)])
def test_inside_the_model_draws_both_class_models_and_says_what_each_model_makes_of_them(page, server, width, height):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Inside the model", exact=True).click()
    main = page.get_by_test_id("stMain")
    steps = main.get_by_label("Steps", exact=True)  # not the pictures' "… 200 steps in …" captions
    steps.fill("30")
    steps.press("Enter")
    _settled(page)
    if main.get_by_role("button", name="Draw the class model").count():  # not drawn yet in this server
        main.get_by_role("button", name="Draw the class model").click()
    # Each model's own probability, and the other model's on the same picture.
    expect(main.get_by_text(re.compile(r"\(its own\): P\(dachshund\) = "))).to_have_count(2, timeout=300_000)
    _settled(page)
    assert main.get_by_test_id("stImage").count() == 2
    problems = page.evaluate(_LAYOUT_PROBLEMS)
    page.screenshot(path=SCREENSHOTS / f"inside-class-{width}x{height}.png")
    main.get_by_text("Feature maps", exact=True).click()
    main.get_by_text(re.compile(r"strongest \(mean \|activation\|\) first")).first.wait_for(timeout=180_000)
    _settled(page)
    problems += page.evaluate(_LAYOUT_PROBLEMS)
    page.screenshot(path=SCREENSHOTS / f"inside-features-{width}x{height}.png")
    page.set_viewport_size({"width": 1500, "height": 1000})
    assert problems == []


def test_a_long_class_model_shows_its_picture_while_it_runs_and_a_stop_keeps_nothing(page, server):
    from playwright.sync_api import expect

    page.goto(server)
    page.get_by_test_id("stSidebarNav").get_by_text("Inside the model", exact=True).click()
    main = page.get_by_test_id("stMain")
    steps = main.get_by_label("Steps", exact=True)  # not the pictures' "… 200 steps in …" captions
    steps.fill("2990")  # minutes on two cores: long enough to watch and stop, and no other test draws it
    steps.press("Enter")
    _settled(page)
    main.get_by_role("button", name="Draw the class model").click()
    # While it runs: which picture is drawn, how far, the picture so far with its step and score, and a Stop.
    expect(main.get_by_text(re.compile(r"^Drawing dachshund as demo-resnet pictures it: \d+%$"))).to_be_visible(
        timeout=120_000
    )
    expect(main.get_by_text(re.compile(r"^step [1-9]\d* of 2990 · score "))).to_be_visible(timeout=120_000)
    assert main.get_by_test_id("stImage").count() == 1
    main.get_by_role("button", name="Stop").click()
    stopped = main.get_by_text(re.compile(r"^Stopped: drawing the class model of dachshund was not finished"))
    expect(stopped).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=30_000)
    # Nothing half done was kept: no picture, no probability, and the same choice starts from step 0 again.
    assert main.get_by_test_id("stImage").count() == 0
    assert main.get_by_text(re.compile(r"\(its own\): P\(")).count() == 0
    main.get_by_role("button", name="Run again").click()
    expect(main.get_by_text(re.compile(r"^step (10|20|30) of 2990 · score "))).to_be_visible(timeout=120_000)
    main.get_by_role("button", name="Stop").click()
    expect(stopped).to_be_visible(timeout=60_000)


def test_no_page_asks_anything_of_another_machine(page, server):
    """Every request of a fresh visitor, on every page, goes to this server: the tab's icon included."""
    from urllib.parse import urlparse

    visitor = page.context.browser.new_page(viewport={"width": 1500, "height": 1000})
    visitor.set_default_timeout(120_000)
    requests: list[str] = []
    visitor.on("request", lambda request: requests.append(request.url))
    visitor.goto(server)
    visitor.get_by_text("demo-efficientnet", exact=True).first.wait_for()
    _wait_until_idle(visitor)
    links = visitor.get_by_test_id("stSidebarNavLink")
    titles = [links.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(links.count())]
    assert len(titles) == 12
    for title in sorted(titles, key=lambda title: title == "Presentation"):  # it hides the sidebar: last
        visitor.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        visitor.get_by_test_id("stMain").locator("h1").first.wait_for()
        _wait_until_idle(visitor)
    icons = visitor.evaluate("[...document.querySelectorAll('link[rel~=icon]')].map(link => link.href)")
    visitor.close()
    assert icons and all(icon.startswith(server) for icon in icons), icons
    away = [url for url in requests if not url.startswith(("data:", "blob:")) and urlparse(url).hostname != "127.0.0.1"]
    assert away == [], f"{len(away)} requests left the machine, e.g. {away[:3]}"
