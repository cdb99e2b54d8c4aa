"""`cmo-bot try` in a real browser: headless Chromium (Debian's) drives the page as the sample people would.

The command runs as a user starts it (a subprocess, stopped with Ctrl-C at the end); every click reaches the
real bot through the emulator. Set CMO_SCREENSHOTS=docs/screenshots to refresh the README's pictures.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from tests.e2e.harness import REPO, TRANSPORTS, cmo_bot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
    if os.environ.get("CI"):  # CI installs both (.ci/run): missing there is a failure, never a skip
        raise RuntimeError("chromium or playwright is not installed; .ci/run installs them")
    pytest.skip("needs Debian's chromium and the playwright package", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402 (only once it is known to be there)

SHOTS = os.environ.get("CMO_SCREENSHOTS")
WAIT_MS = 20_000


@pytest.fixture(scope="module", params=TRANSPORTS)
def try_url(request, tmp_path_factory):
    """`cmo-bot try --port 0` (over each transport), until the module's tests are done; then Ctrl-C, which must
    end it cleanly with one line and leave nothing behind."""
    workdir = tmp_path_factory.mktemp(f"try-{request.param}")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*cmo_bot(), "try", "--port", "0", "--transport", request.param], cwd=workdir,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:  # waits for the process to say where it listens (it loads the portfolio first)
        lines.append(line)
        found = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        if found:
            break
    else:
        raise AssertionError(f"cmo-bot try ended early: {''.join(lines)}{proc.stderr.read()}")
    yield found.group(1)
    proc.send_signal(signal.SIGINT)
    rest, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0, errors
    assert rest.strip() == "cmo-bot try: stopped", rest
    assert "Traceback" not in errors and list(workdir.iterdir()) == []


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, try_url):
    context = browser.new_context(viewport={"width": 1200, "height": 780})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    opened.goto(try_url)
    opened.wait_for_selector("#channels .conv")
    yield opened
    context.close()


def act_as(page, person: str) -> None:
    page.select_option("#person", label=person)
    page.wait_for_function("name => document.querySelector('#person').selectedOptions[0].text.startsWith(name)",
                           arg=person.split(" — ")[0])


def open_channel(page, person: str, channel: str) -> None:
    act_as(page, person)
    page.locator("#sidebar .conv", has_text=channel).click()
    page.wait_for_selector(f"#title:text-is('#{channel}')")


def open_form(page, person: str, channel: str, text: str):
    """The dialog a command opens for `person` in `channel`."""
    open_channel(page, person, channel)
    command(page, text)
    dialog = page.locator("dialog#modal[open]")
    dialog.wait_for()
    return dialog


def command(page, text: str) -> None:
    page.fill("#command", text)
    page.press("#command", "Enter")


def shot(page, name: str) -> None:
    """A picture for the docs, scaled down and reduced to a small palette to keep the repository light."""
    if SHOTS:
        from PIL import Image

        path = Path(SHOTS) / f"{name}.png"
        page.screenshot(path=str(path))
        image = Image.open(path).convert("RGB")
        image = image.resize((image.width * 5 // 6, image.height * 5 // 6), Image.Resampling.LANCZOS)
        image.quantize(colors=96, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def test_batch_approved_in_the_browser_changes_the_channel_message(page):
    open_channel(page, "Pat Manager — program manager", "acme-001")
    command(page, "/cmo batch ready B-1042 --product 'Acmezol 10 mg' --release-by 2026-11-13")
    card = page.locator("article.message", has_text="Batch record B-1042").last
    card.wait_for()
    assert "Awaiting review" in card.inner_text() and "⏳" in card.inner_text()  # :hourglass_flowing_sand:
    page.locator("article.is-ephemeral", has_text="sent to @Alice Approver").wait_for()  # a name, not an id
    shot(page, "channel")

    # An hour later (the clock control runs the scheduler too), the approver opens the bot's DM.
    page.select_option("#travel", "1")
    page.click("#travel-go")
    page.locator("#notice", has_text="The scheduler ran").wait_for()
    assert re.search(r"[1-9]\d* sent", page.locator("#notice").inner_text())  # Monday 09:00 in New York: due
    act_as(page, "Alice Approver — Acme's approver")
    page.locator("#sidebar .conv", has_text="cmo-bot").click()
    page.locator("article.message", has_text="B-1042").last.locator("button", has_text="Approve").click()
    dialog = page.locator("dialog#modal[open]")
    dialog.wait_for()
    code = page.locator("#authenticator").inner_text().rsplit(" ", 1)[-1]
    dialog.locator("[data-block='code']").fill(code)
    shot(page, "signing")
    dialog.locator("#modal-submit").click()
    page.wait_for_selector("dialog#modal[open]", state="detached")

    page.locator("#sidebar .conv", has_text="acme-001").click()
    page.wait_for_selector("#title:text-is('#acme-001')")
    approved = page.locator("article.message", has_text="Batch record B-1042").last
    page.wait_for_function("el => !el.innerText.includes('Awaiting review')", arg=approved.element_handle())
    assert "Approved" in approved.inner_text()
    assert "Alice Approver" in approved.inner_text()
    assert not re.search(r"\bU0[A-Z0-9]{3,}\b", page.locator("#messages").inner_text())  # no raw user ids


def test_app_home_opens(page):
    act_as(page, "Pat Manager — program manager")
    page.click("#home-link")
    page.wait_for_selector("#title:text-is('Home — cmo-bot')")
    home = page.locator("#messages .home")
    home.wait_for()
    assert "ACME-001" in home.inner_text()
    shot(page, "home")


def test_a_form_error_shows_on_its_field(page):
    dialog = open_form(page, "Ada Admin — admin", "general", "/cmo program new")
    dialog.locator("[data-block='code']").fill("ACME-001")  # taken by the sample portfolio
    dialog.locator("[data-block='customer']").fill("Acme Pharma")
    dialog.locator("[data-block='products']").fill("Acmezol 20 mg tablets")
    dialog.locator("[data-block='program_manager']").get_by_label("Pat Manager").check()
    dialog.locator("#modal-submit").click()
    error = dialog.locator("[data-field='code'] .field-error")
    error.wait_for()
    assert error.inner_text().strip()
    shot(page, "form-error")
    assert page.locator("dialog#modal[open]").count() == 1  # the form stays open with what was typed
    assert dialog.locator("[data-block='customer']").input_value() == "Acme Pharma"


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        done = subprocess.run([*cmo_bot(), "try", "--port", str(busy)], cwd=tmp_path, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)},
                              timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"cmo-bot try: port {busy} cannot be used")
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_a_document_uploaded_in_a_form_is_filed(page):
    dialog = open_form(page, "Pat Manager — program manager", "acme-001", "/cmo agreement new")
    dialog.locator("[data-block='kind']").select_option(label="Master Services Agreement")
    dialog.locator("[data-block='version']").fill("MSA 2026")
    dialog.locator("[data-block='files']").set_input_files(files=[
        {"name": "msa.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}])
    dialog.locator("#modal-submit").click()
    page.wait_for_selector("dialog#modal[open]", state="detached")
    logged = page.locator("article.message", has_text="MSA 2026").last
    logged.wait_for()
    ref = re.search(r"MSA-\d+", logged.inner_text()).group(0)
    command(page, f"/cmo agreement show {ref}")
    page.locator("article.is-ephemeral", has_text=f"{ref}-msa.pdf").wait_for()


def test_only_the_page_on_this_machine_may_act(try_url):
    """Another site open in the same browser cannot drive the bot, nor read it through a rebound host name."""
    command_url = f"{try_url}api/command"
    payload = {"as": "U0PAT", "channel": "C0GENERAL", "text": "/cmo help"}
    assert requests.post(command_url, json=payload, timeout=10).status_code == 403
    assert requests.get(f"{try_url}api/state?as=U0PAT", headers={"Host": "attacker.example"},
                        timeout=10).status_code == 403
    assert requests.get(f"{try_url}api/state?as=U0PAT", timeout=10).status_code == 200
    assert requests.post(command_url, json=payload, headers={"X-Try-Page": "1"}, timeout=10).status_code == 200
