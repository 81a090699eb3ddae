#!/usr/bin/env python3
"""The chat page of `gpt serve` (GET /) in a real browser: headless Chromium driven by selenium.

Installs Debian's chromium and chromium-driver (apt-get, as root) and selenium (pip) if they are
missing, and skips with a message (exit 0) where they cannot be had. Trains a tiny character
model with the gpt binary, starts `gpt serve` with an API key on a free loopback port, opens the
page, enters the key, types a message, waits until streamed text appears in the reply and the
stream ends (checking that the reply was built chunk by chunk), and saves a screenshot. Exits non-zero on any failure. Traffic goes to 127.0.0.1 only.
Usage: browser_chat.py PATH/TO/gpt [SCREENSHOT.png]   (default .build/browser-chat.png)
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

GPT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/gpt")
SHOT = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else ".build/browser-chat.png")
KEY = "browser-key"


def skip(why):
    print(f"browser_chat.py: skipped, {why}")
    sys.exit(0)


def find(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium():
    browser, driver = find("chromium", "chromium-browser"), find("chromedriver", "chromium-driver")
    if browser and driver:
        return browser, driver
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        skip("chromium/chromium-driver are not installed and apt-get cannot run here (needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]
    try:
        if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
            subprocess.run(install, env=env, capture_output=True, timeout=900)
    except subprocess.TimeoutExpired:
        pass
    browser, driver = find("chromium", "chromium-browser"), find("chromedriver", "chromium-driver")
    if not (browser and driver):
        skip("chromium and chromium-driver could not be installed with apt-get")
    return browser, driver


def ensure_selenium():
    try:
        import selenium  # noqa: F401
    except ImportError:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--root-user-action=ignore",
               "--retries", "2", "--timeout", "20", "selenium"]
        try:
            subprocess.run(pip, capture_output=True, timeout=300)
        except subprocess.TimeoutExpired:
            pass
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip("selenium could not be installed from PyPI")


def main():
    browser, driver_path = ensure_chromium()
    ensure_selenium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    work = tempfile.mkdtemp(prefix="browser-chat-")
    server = driver = None
    failures = []
    try:
        corpus = os.path.join(work, "corpus.txt")
        with open(corpus, "w") as f:
            f.write("User: hello there, how are you?\nAssistant: the king is good and the queen is warm.\n" * 100)
        run = os.path.join(work, "run")
        subprocess.run([GPT, "train", "--data", corpus, "--steps", "200", "--eval-every", "0", "--set", "n_layer=1",
                        "--set", "n_positions=128", "--set", "n_embd=32", "--set", "n_head=2", "--out", run, "--threads", "1"],
                       check=True, capture_output=True, timeout=300)
        server = subprocess.Popen([GPT, "serve", "--checkpoint", run, "--port", "0", "--model-name", "tiny", "--threads", "1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env={**os.environ, "GPT_API_KEY": KEY})
        line = server.stdout.readline()  # "serving tiny at http://127.0.0.1:PORT/v1"
        if not line.startswith("serving "):
            raise RuntimeError(f"gpt serve did not start: {line!r}")
        page = line.split()[-1].removesuffix("v1")

        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,600",
                         "--no-first-run", "--no-proxy-server"]:
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        driver.set_page_load_timeout(30)
        driver.get(page)
        title = driver.title
        print(("ok   " if "tiny" in title else "FAIL ") + f"the page loads: {title!r}")
        if "tiny" not in title:
            failures.append("title")
        key = driver.find_element(By.ID, "key")
        key.send_keys(KEY)
        driver.find_element(By.ID, "max-tokens").clear()
        driver.find_element(By.ID, "max-tokens").send_keys("60")
        # Count the reply's changes: the page appends each streamed chunk as it is parsed, so a streamed
        # reply changes once per chunk (the observer may see several changes per paint).
        driver.execute_script("""
            window.replyChanges = 0; window.replyLengths = [];
            new MutationObserver((changes) => {
              const replies = document.querySelectorAll('.msg.assistant');
              if (!replies.length) return;
              window.replyChanges += changes.length;
              window.replyLengths.push(replies[replies.length - 1].textContent.length);
            }).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
        """)
        box = driver.find_element(By.ID, "input")
        box.send_keys("hello there, how are you?")
        box.send_keys(Keys.ENTER)

        # Poll the reply: note text seen while the stream is still open, then wait for its end.
        partial, state, text = None, None, ""
        deadline = time.time() + 60
        while time.time() < deadline:
            replies = driver.find_elements(By.CSS_SELECTOR, ".msg.assistant")
            errors = driver.find_elements(By.CSS_SELECTOR, ".msg.error")
            if errors:
                failures.append(f"the page shows an error: {errors[0].text}")
                break
            if replies:
                state, text = replies[-1].get_attribute("data-state"), replies[-1].text
                if state == "streaming" and text and partial is None:
                    partial = text
                if state == "done":
                    break
            time.sleep(0.02)
        print(("ok   " if state == "done" and text.strip() else "FAIL ") + f"a streamed reply appears: {text[:80]!r}")
        if not (state == "done" and text.strip()):
            failures.append("no finished reply")
        changes = driver.execute_script("return window.replyChanges")
        steps = len(set(n for n in driver.execute_script("return window.replyLengths") if n > 0))
        print(("ok   " if changes > 2 else "FAIL ") + f"the reply was built from {changes} changes as chunks arrived "
              f"({steps} distinct lengths seen between paints)")
        if changes <= 2:
            failures.append("the reply did not arrive in pieces")
        if partial:
            print(f"     text shown while the stream was still open: {partial!r}")
        user = driver.find_elements(By.CSS_SELECTOR, ".msg.user")
        if not (user and user[0].text == "hello there, how are you?"):
            failures.append("the user's message is not shown")
        os.makedirs(os.path.dirname(SHOT), exist_ok=True)
        driver.save_screenshot(SHOT)
        print(f"     screenshot: {SHOT}")
    except Exception as error:  # any failure is reported, and the exit status says so
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        if driver is not None:
            driver.quit()
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("browser_chat.py: FAILED: " + "; ".join(failures))
        sys.exit(1)
    print("browser_chat.py: passed")


if __name__ == "__main__":
    main()
