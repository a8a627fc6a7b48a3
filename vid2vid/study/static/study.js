// The study page: asks the server (vid2vid/study/server.py) for the next pair, shows it, sends the choice.
// Everything the participant has done lives on the server; a reload asks it where they are.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let state = null; // the server's last answer: {participant, answered, total, trial, layout, question}
  let busy = false; // an answer is on its way
  let watched = false; // sequential layout: both videos have played to the end once

  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    };
    const response = await fetch(path, {credentials: "same-origin", cache: "no-store", ...init});
    const data = await response.json().catch(() => ({error: response.statusText}));
    if (!response.ok) {
      const err = new Error(data.error || response.statusText);
      err.status = response.status;
      throw err;
    }
    return data;
  }

  function show(section) {
    for (const id of ["welcome", "trial", "done"]) $(id).hidden = id !== section;
    document.body.dataset.view = section;
  }

  function setChoices(enabled) {
    $("choose-left").disabled = !enabled;
    $("choose-right").disabled = !enabled;
  }

  function sequential() {
    return state && state.layout === "sequential";
  }

  function playSequence() {
    // sequential layout: the first video, then the second; the choice opens once both have ended
    const first = $("left"), second = $("right");
    $("left-figure").hidden = false;
    $("right-figure").hidden = true;
    $("replay").hidden = true;
    first.currentTime = 0;
    first.play().catch(() => {});
    first.onended = () => {
      $("left-figure").hidden = true;
      $("right-figure").hidden = false;
      second.currentTime = 0;
      second.play().catch(() => {});
    };
    second.onended = () => {
      watched = true;
      $("left-figure").hidden = false;
      $("replay").hidden = false;
      $("hint").textContent = "Which of the two looked more real?";
      setChoices(!busy);
    };
  }

  function showTrial() {
    const trial = state.trial;
    $("trial").dataset.position = String(trial.position);
    $("progress").textContent = `Pair ${state.answered + 1} of ${state.total}`;
    $("question").textContent = state.question;
    $("participant").textContent = state.participant;
    $("trial-error").textContent = "";
    const seq = sequential();
    $("videos").className = seq ? "sequential" : "side-by-side";
    $("left-label").textContent = seq ? "First video" : "Left";
    $("right-label").textContent = seq ? "Second video" : "Right";
    $("choose-left").textContent = seq ? "The first looks more real" : "Left looks more real";
    $("choose-right").textContent = seq ? "The second looks more real" : "Right looks more real";
    for (const [id, src] of [["left", trial.left], ["right", trial.right]]) {
      const video = $(id);
      video.onended = null;
      video.loop = !seq;
      video.src = src;
      video.load();
    }
    show("trial");
    watched = false;
    if (seq) {
      $("hint").textContent = "Watch the first video, then the second.";
      setChoices(false);
      playSequence();
    } else {
      $("hint").textContent = "Both videos play in a loop; take the time you need. Keys: \u2190 left, \u2192 right.";
      $("left-figure").hidden = false;
      $("right-figure").hidden = false;
      $("replay").hidden = true;
      $("left").play().catch(() => {});
      $("right").play().catch(() => {});
      setChoices(true);
    }
  }

  function render(next) {
    state = next;
    if (!state.participant) {
      $("intro-total").textContent = String(state.total);
      $("intro-question").textContent = state.question;
      show("welcome");
    } else if (!state.trial) {
      for (const id of ["left", "right"]) $(id).removeAttribute("src");
      $("done-total").textContent = String(state.total);
      $("done-code").textContent = state.participant;
      show("done");
    } else {
      showTrial();
    }
  }

  async function start() {
    $("start").disabled = true;
    $("start-error").textContent = "";
    try {
      const code = $("code").value.trim();
      render(await api("/api/start", code ? {code} : {}));
    } catch (err) {
      $("start-error").textContent = err.message;
    } finally {
      $("start").disabled = false;
    }
  }

  async function choose(choice) {
    if (busy || !state || !state.trial || $("choose-left").disabled) return;
    busy = true;
    setChoices(false);
    try {
      render(await api("/api/answer", {participant: state.participant, position: state.trial.position, choice}));
    } catch (err) {
      if (err.status === 409) {
        render(await api("/api/state")); // answered elsewhere (another tab): continue from the server's state
      } else {
        $("trial-error").textContent = `Your answer was not saved: ${err.message}. Please try again.`;
        setChoices(!sequential() || watched);
      }
    } finally {
      busy = false;
    }
  }

  $("start").addEventListener("click", start);
  $("code").addEventListener("keydown", (e) => { if (e.key === "Enter") start(); });
  $("choose-left").addEventListener("click", () => choose("left"));
  $("choose-right").addEventListener("click", () => choose("right"));
  $("replay").addEventListener("click", playSequence);
  document.addEventListener("keydown", (e) => {
    if ($("trial").hidden || e.target.tagName === "INPUT") return;
    if (e.key === "ArrowLeft") choose("left");
    if (e.key === "ArrowRight") choose("right");
  });
  for (const id of ["left", "right"]) {
    $(id).addEventListener("error", () => {
      $("trial-error").textContent = "This browser cannot play the videos; please tell the person running the study.";
    });
  }
  api("/api/state").then(render).catch((err) => {
    document.body.textContent = `The study server did not answer (${err.message}).`;
  });
})();
