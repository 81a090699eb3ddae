// GET /: one self-contained chat page (inline HTML, CSS and JavaScript, nothing fetched from
// elsewhere) that talks to this server's /v1/chat/completions and streams the reply as it
// arrives: fetch + ReadableStream reading OpenAI's Server-Sent Events (`data: {json}` lines,
// ending with `data: [DONE]`). The API key field shows only when the server needs one.
import Foundation

enum ChatPage {
    /// The page for a server named `model`; `needsKey` shows the key field.
    static func html(model: String, needsKey: Bool) -> String {
        let name = model.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        return template.replacingOccurrences(of: "{{MODEL}}", with: name)
            .replacingOccurrences(of: "{{KEY_HIDDEN}}", with: needsKey ? "" : "hidden")
    }

    static let template = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>swift-gpt · {{MODEL}}</title>
    <style>
      :root { font-family: system-ui, sans-serif; color: #1d1d1f; background: #f4f4f6; }
      body { margin: 0; display: flex; flex-direction: column; height: 100vh; }
      header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #fff; border-bottom: 1px solid #ddd; }
      header h1 { font-size: 1rem; margin: 0; flex: 1; }
      header label { font-size: .8rem; color: #555; }
      header input { width: 4.5rem; }
      #key { width: 12rem; }
      #messages { flex: 1; overflow-y: auto; padding: 1rem; display: flex; flex-direction: column; gap: .6rem; }
      .msg { max-width: 46rem; padding: .6rem .8rem; border-radius: .6rem; white-space: pre-wrap; line-height: 1.4; }
      .user { align-self: flex-end; background: #0a66d8; color: #fff; }
      .assistant { align-self: flex-start; background: #fff; border: 1px solid #ddd; }
      .error { align-self: center; background: #fde8e8; color: #9b1c1c; }
      form { display: flex; gap: .5rem; padding: .8rem 1rem; background: #fff; border-top: 1px solid #ddd; }
      textarea { flex: 1; resize: none; font: inherit; padding: .5rem; border: 1px solid #ccc; border-radius: .4rem; }
      button { font: inherit; padding: 0 1.2rem; border: 0; border-radius: .4rem; background: #0a66d8; color: #fff; cursor: pointer; }
      button:disabled { background: #9bb8dd; cursor: default; }
    </style>
    </head>
    <body>
    <header>
      <h1>swift-gpt · <span id="model">{{MODEL}}</span></h1>
      <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.8"></label>
      <label>max tokens <input id="max-tokens" type="number" min="1" max="4096" value="128"></label>
      <label {{KEY_HIDDEN}}>API key <input id="key" type="password" autocomplete="off"></label>
    </header>
    <main id="messages" aria-live="polite"></main>
    <form id="form">
      <textarea id="input" rows="2" placeholder="Say something (Enter sends, Shift+Enter adds a line)"></textarea>
      <button id="send" type="submit">Send</button>
    </form>
    <script>
    "use strict";
    const history = [];
    const $ = (id) => document.getElementById(id);
    const key = $("key");
    key.value = sessionStorage.getItem("gpt-api-key") || "";
    key.addEventListener("change", () => sessionStorage.setItem("gpt-api-key", key.value));

    function bubble(role, text) {
      const div = document.createElement("div");
      div.className = "msg " + role;
      div.textContent = text;
      $("messages").appendChild(div);
      div.scrollIntoView({ block: "end" });
      return div;
    }

    // Reads the SSE body: events are separated by a blank line; each `data:` line holds a chunk.
    async function stream(response, onText) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of event.split("\n")) {
            if (!line.startsWith("data: ")) continue;  // `: ping` comments keep the connection alive
            const data = line.slice(6);
            if (data === "[DONE]") return;
            const chunk = JSON.parse(data);
            if (chunk.error) throw new Error(chunk.error.message);
            const text = chunk.choices?.[0]?.delta?.content;
            if (text) onText(text);
          }
        }
      }
    }

    async function send(text) {
      history.push({ role: "user", content: text });
      bubble("user", text);
      const reply = bubble("assistant", "");
      reply.dataset.state = "streaming";
      $("send").disabled = true;
      const headers = { "Content-Type": "application/json" };
      if (key.value) headers["Authorization"] = "Bearer " + key.value;
      try {
        const response = await fetch("/v1/chat/completions", {
          method: "POST", headers,
          body: JSON.stringify({ messages: history, stream: true,
                                 temperature: Number($("temperature").value), max_tokens: Number($("max-tokens").value) }),
        });
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          throw new Error(body.error?.message || "HTTP " + response.status);
        }
        await stream(response, (piece) => { reply.textContent += piece; reply.scrollIntoView({ block: "end" }); });
        history.push({ role: "assistant", content: reply.textContent });
        reply.dataset.state = "done";
      } catch (error) {
        reply.remove();
        history.pop();
        bubble("error", error.message);
      } finally {
        $("send").disabled = false;
        $("input").focus();
      }
    }

    $("form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("input").value.trim();
      if (!text || $("send").disabled) return;
      $("input").value = "";
      send(text);
    });
    $("input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("form").requestSubmit(); }
    });
    </script>
    </body>
    </html>
    """#
}
