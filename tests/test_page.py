"""The explainer page (symgrad html): one self-contained file, opened in a real headless browser.

The browser tests start Debian's chromium through Selenium and Debian's chromium-driver, with every
network request refused.  Without chromium they skip, except under CI (CI=true), where .ci/run
installs it and a missing browser is a failure.  Screenshots are saved in build/screenshots/ (or
$SYMGRAD_SCREENSHOTS), to be looked at."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import run

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ["f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4"]
FAN_OUT = ["f(x) = x*x + x", "--at", "x=3"]
SHOTS = Path(os.environ.get("SYMGRAD_SCREENSHOTS", ROOT / "build" / "screenshots"))


def page(tmp_path: Path, *args: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    result = run("html", *args, "-o", str(path), code=0)
    assert f"wrote {path}" in result.stderr
    return path


def data_of(text: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="symgrad-data">(.*?)</script>', text, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


# ---- the file itself ---------------------------------------------------------------------------

def test_the_page_is_one_file_that_needs_no_network(tmp_path: Path) -> None:
    text = page(tmp_path, *LECTURE).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)  # no CDN, no remote anything
    assert "@import" not in text and "url(" not in text
    assert text.count("<script") == 2 and text.count("<svg") == 1  # the data and the script; the picture inline
    # the picture, the table, the checks and the chain-rule steps are all there
    assert 'id="node-4"' in text and '<tr data-node="3"' in text
    assert "checks: backprop, symbolic and numeric agree for x, y, z" in text
    assert "∂f/∂x = ∂f/∂n1 · ∂n1/∂x|local = -4 · 1 = <b>-4</b>" in text


def test_the_walk_is_the_forward_pass_then_the_backward_pass(tmp_path: Path) -> None:
    data = data_of(page(tmp_path, *LECTURE).read_text(encoding="utf-8"))
    labels = {int(k): v["label"] for k, v in data["nodes"].items()}
    walk = [(s["phase"], labels[s["node"]]) for s in data["steps"]]
    assert walk == [("forward", x) for x in ["x", "y", "z", "n1", "f"]] + \
        [("backward", x) for x in ["f", "n1", "z", "y", "x"]]
    texts = [s["text"] for s in data["steps"]]
    assert texts[3] == "n1 = x + y = 3"
    assert texts[5] == "∂f/∂f = 1: the backward pass starts at the output; it sends down n1 ← -4, z ← 3"
    assert texts[6] == "∂f/∂n1 = -4 reaches n1; it sends down x ← -4, y ← -4"
    n1 = data["nodes"]["3"]
    assert n1["forward"] == "n1 = x + y = 3   with x = -2, y = 5"
    assert n1["upstream"] == "∂f/∂n1 = -4"
    assert n1["chain"] == ["∂f/∂x = ∂f/∂n1 · ∂n1/∂x|local = -4 · 1 = -4   (add distributes)",
                           "∂f/∂y = ∂f/∂n1 · ∂n1/∂y|local = -4 · 1 = -4   (add distributes)"]


def test_branches_add_up_in_the_walk(tmp_path: Path) -> None:
    data = data_of(page(tmp_path, *FAN_OUT).read_text(encoding="utf-8"))
    x = next(s for s in data["steps"] if s["phase"] == "backward" and data["nodes"][str(s["node"])]["label"] == "x")
    assert x["text"] == "∂f/∂x = 7: its branches add up"  # 3 + 3 through x*x, and 1 directly


def test_user_text_is_escaped_and_reaches_the_script_only_as_data(tmp_path: Path) -> None:
    text = page(tmp_path, "f(s,b) = 2*s[b] + s[0]", "--at", "s=[1,2,3],b=1").read_text(encoding="utf-8")
    script = re.search(r'id="symgrad-data">(.*?)</script>', text, re.S)
    assert script is not None and "<" not in script.group(1)  # nothing in the data can end the element
    assert "s[b]" in html.unescape(text)


def test_a_vector_output_without_upstream_has_no_single_backward_pass(tmp_path: Path) -> None:
    text = page(tmp_path, "f(W,x)=W@x", "--at", "W=[[1,2],[3,4]],x=[1,1]").read_text(encoding="utf-8")
    assert "its gradient is a Jacobian" in text
    data = data_of(text)
    assert {s["phase"] for s in data["steps"]} == {"forward"}


def test_bad_requests_exit_2_with_a_hint(tmp_path: Path) -> None:
    result = run("html", "f(x)=x", "-o", str(tmp_path / "p.html"), code=2)
    assert "needs a point" in result.stderr and "hint: give the values with --at" in result.stderr
    result = run("html", "f(x)=x", "--at", "x=1", "-o", str(tmp_path / "no" / "such" / "p.html"), code=2)
    assert "cannot write" in result.stderr
    long = "f(x) = " + " + ".join(["x"] * 400)
    result = run("html", long, "--at", "x=1", "--no-check", code=2)
    assert "can show readably" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_o_the_page_goes_to_standard_output() -> None:
    result = run("html", *LECTURE, "--no-check", code=0)
    assert result.stdout.startswith("<!DOCTYPE html>") and result.stdout.rstrip().endswith("</html>")


def test_the_committed_page_is_what_symgrad_writes(tmp_path: Path) -> None:
    args = ["f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--expand"]
    made = page(tmp_path, *args).read_text(encoding="utf-8")
    committed = (ROOT / "examples" / "sigmoid-neuron.html").read_text(encoding="utf-8")
    checks = re.compile(r'<pre class="checks">.*?</pre>', re.S)  # the last digits of the errors are the machine's
    assert "checks: backprop, symbolic and numeric agree" in committed
    assert checks.sub("", made) == checks.sub("", committed), "rewrite examples/sigmoid-neuron.html"


# ---- in a real browser -------------------------------------------------------------------------

def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium or chromedriver is missing under CI: .ci/run should have installed them")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",  # no network: every request fails
                "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1000", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser: Any, path: Path, width: int = 1400, height: int = 1000) -> None:
    browser.set_window_size(width, height)
    browser.get(path.as_uri())
    browser.get_log("browser")  # what earlier pages logged is not this page's


def _shot(browser: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SHOTS / f"{name}.png"))


def _errors(browser: Any) -> list[dict[str, Any]]:
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def _classes(browser: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.CSS_SELECTOR, css).get_attribute("class") or "").split()


def test_the_page_opens_with_no_console_errors(browser: Any, tmp_path: Path) -> None:
    _open(browser, page(tmp_path, *LECTURE))
    assert browser.title.startswith("f(x, y, z) = (x + y) * z")
    assert browser.execute_script("return document.querySelectorAll('g.node').length") == 6  # 5 nodes and f's value
    _shot(browser, "lecture-wide")
    assert _errors(browser) == []


def test_a_click_on_a_node_highlights_its_row_edges_and_steps(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, page(tmp_path, *LECTURE))
    browser.find_element(By.ID, "node-3").click()  # n1 = x + y, in the picture
    assert "selected" in _classes(browser, 'tr[data-node="3"]')
    assert "selected" not in _classes(browser, 'tr[data-node="4"]')
    for edge in ("edge-3-0", "edge-3-1", "edge-4-0"):  # x -> n1, y -> n1 and n1 -> f
        assert "selected" in _classes(browser, f"#{edge}")
    assert "selected" not in _classes(browser, "#edge-4-1")  # z -> f
    steps = browser.find_elements(By.CSS_SELECTOR, 'ol.steps li[data-node="3"]')
    assert len(steps) == 2 and all("selected" in (s.get_attribute("class") or "") for s in steps)
    chain = browser.find_element(By.ID, "chain").text
    assert "Chain rule at n1" in chain
    assert "∂f/∂x = ∂f/∂n1 · ∂n1/∂x|local = -4 · 1 = -4" in chain and "∂f/∂n1 = -4" in chain
    _shot(browser, "lecture-n1-chosen")
    browser.find_element(By.CSS_SELECTOR, 'tr[data-node="4"]').click()  # a row chooses too
    assert "selected" in _classes(browser, "#node-4") and "selected" not in _classes(browser, "#node-3")
    assert _errors(browser) == []


def _visible(browser: Any, css: str) -> bool:
    return bool(browser.execute_script(
        "const el = document.querySelector(arguments[0]); return getComputedStyle(el).visibility === 'visible'"
        " && getComputedStyle(el.closest('g')).opacity === '1';", css))


def test_the_step_control_walks_forward_then_backward_to_the_last_step(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    path = page(tmp_path, *LECTURE)
    steps = len(data_of(path.read_text(encoding="utf-8"))["steps"])
    _open(browser, path)
    status = browser.find_element(By.ID, "status")
    assert "All values and gradients are shown" in status.text
    assert _visible(browser, "#edge-3-0 text.gradient")  # nothing moves by itself: all shown until asked
    browser.find_element(By.ID, "first").click()
    assert "Before the forward pass" in status.text
    assert not _visible(browser, "#edge-3-0 text.value") and not _visible(browser, "#result text.value")
    seen = []
    for _ in range(steps):
        browser.find_element(By.ID, "next").click()
        seen.append(status.text)
        if seen[-1].startswith("Forward pass, step 3 of 5"):  # z computed, n1 not yet
            assert _visible(browser, "#edge-4-1 text.value") and not _visible(browser, "#edge-4-0 text.value")
        if seen[-1].startswith("Forward pass, step 4 of 5"):  # n1 computed, f not yet
            assert _visible(browser, "#edge-4-0 text.value") and not _visible(browser, "#edge-3-0 text.gradient")
            assert not _visible(browser, "#result text.value")
            assert "current" in _classes(browser, "#node-3") and "current" in _classes(browser, 'tr[data-node="3"]')
    assert seen[0] == "Forward pass, step 1 of 5: x = -2: an input"
    assert seen[4] == "Forward pass, step 5 of 5: f = n1 * z = -12"
    assert seen[5].startswith("Backward pass, step 1 of 5: ∂f/∂f = 1")
    assert seen[-1] == "Backward pass, step 5 of 5: ∂f/∂x = -4 reaches x"
    assert _visible(browser, "#edge-3-0 text.gradient") and _visible(browser, "#result text.gradient")
    _shot(browser, "lecture-last-backward-step")
    browser.find_element(By.ID, "next").click()  # past the end it stays at the end
    assert status.text == seen[-1]
    assert _errors(browser) == []


def test_the_arrow_keys_step_and_end_shows_everything(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, page(tmp_path, *FAN_OUT))
    body = browser.find_element(By.TAG_NAME, "body")
    status = browser.find_element(By.ID, "status")
    body.send_keys(Keys.HOME)
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    assert status.text.startswith("Forward pass, step 2 of 3: n1 = x * x = 9")
    body.send_keys(Keys.ARROW_LEFT)
    assert status.text.startswith("Forward pass, step 1 of 3")
    body.send_keys(Keys.END)
    assert "All values and gradients are shown" in status.text
    body.send_keys(Keys.ARROW_LEFT)  # back from the overview: the last step
    assert status.text == "Backward pass, step 3 of 3: ∂f/∂x = 7: its branches add up"
    assert _errors(browser) == []


@pytest.mark.parametrize(("name", "width", "height"), [("phone", 390, 844), ("wide", 1600, 1000)])
def test_the_page_fits_a_phone_and_a_wide_screen(browser: Any, tmp_path: Path, name: str, width: int,
                                                 height: int) -> None:
    _open(browser, page(tmp_path, "f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)", "--at",
                        "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--expand"), width, height)
    inner = browser.execute_script("return window.innerWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= inner  # no sideways page
    figure = browser.execute_script("return document.querySelector('.figure').getBoundingClientRect().width")
    assert figure <= inner
    _shot(browser, f"sigmoid-neuron-{name}")
    assert _errors(browser) == []


def test_in_print_everything_shows_and_the_controls_do_not(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, page(tmp_path, *LECTURE))
    browser.find_element(By.ID, "first").click()  # even mid-walk, print shows the whole picture
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert browser.execute_script("return getComputedStyle(document.querySelector('.controls')).display") == "none"
        assert _visible(browser, "#edge-3-0 text.gradient") and _visible(browser, "#result text.value")
        pdf = base64.b64decode(browser.print_page())
        assert pdf.startswith(b"%PDF")
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "lecture-print.pdf").write_bytes(pdf)
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
