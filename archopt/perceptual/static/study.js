// The test page: one trial at a time through the JSON API (cookie session + CSRF header).
// Each image is shown for data-display-ms after it has decoded, then hidden; the answer
// buttons (and keys R / F) stay active until the volunteer answers.
"use strict";
(function () {
  const root = document.getElementById("study");
  const csrf = root.dataset.csrf;
  const displayMs = Number(root.dataset.displayMs);
  const feedbackMs = Number(root.dataset.feedbackMs);
  const el = (id) => document.getElementById(id);
  const buttons = [el("answer-real"), el("answer-fake")];
  let current = null;
  let hideTimer = null;

  async function api(path, options) {
    const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
    return body;
  }

  function setAnswering(enabled) {
    buttons.forEach((button) => { button.disabled = !enabled; });
  }

  function hideImage() {
    clearTimeout(hideTimer);
    el("stage").replaceChildren();
  }

  function fail(error) {
    setAnswering(false);
    el("error").textContent = error.message + " (reload the page to continue)";
    el("error").hidden = false;
  }

  async function nextTrial() {
    el("feedback").hidden = true;
    el("hint").hidden = true;
    const trial = await api("/api/trial");
    if (trial.done) {
      current = null;
      el("progress").textContent = "Finished";
      el("answers").hidden = true;
      el("stage").hidden = true;
      el("done").hidden = false;
      return;
    }
    current = trial;
    el("progress").textContent = "Image " + trial.index + " of " + trial.of +
      (trial.training ? " (practice)" : "");
    if (trial.image_url === null) {
      // Reloaded after the image was shown: it is not shown twice.
      el("hint").textContent = "This image was already shown before the page was reloaded; " +
        "answer from memory.";
      el("hint").hidden = false;
      setAnswering(true);
      return;
    }
    const image = new Image(256, 256);
    image.id = "stimulus";
    image.alt = "map " + trial.index;
    image.src = trial.image_url;
    await image.decode();
    el("stage").replaceChildren(image);
    hideTimer = setTimeout(hideImage, displayMs);
    setAnswering(true);
  }

  async function answer(value) {
    if (current === null || buttons[0].disabled) return;
    setAnswering(false);
    hideImage();
    const result = await api("/api/answer", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ answer: value, index: current.index }),
    });
    if ("correct" in result) {
      const truth = result.correct === (value === "real") ? "real" : "generated";
      el("feedback").textContent = (result.correct ? "Correct" : "Wrong") +
        ": this map was " + truth + ".";
      el("feedback").className = result.correct ? "correct" : "wrong";
      el("feedback").hidden = false;
      await new Promise((resolve) => setTimeout(resolve, feedbackMs));
    }
    await nextTrial();
  }

  buttons.forEach((button) => {
    button.addEventListener("click", () => answer(button.dataset.answer).catch(fail));
  });
  document.addEventListener("keydown", (event) => {
    if (event.repeat) return; // a held key must not answer the next trial too
    const key = event.key.toLowerCase();
    if (key === "r") answer("real").catch(fail);
    if (key === "f") answer("fake").catch(fail);
  });
  nextTrial().catch(fail);
})();
