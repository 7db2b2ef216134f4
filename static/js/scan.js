// The scan station (扫描发货), for a packer with a keyboard-wedge scanner: the scanner types the waybill number
// and Enter, the form is sent, and the answer comes back as a big green, amber or red panel with a tone
// (generated with the Web Audio API: no sound files). The input is emptied as each scan is sent, so the next
// one can be typed while the answer is on its way, and focused again after each answer. This tab's scans are
// counted and the last 20 listed (sessionStorage); the mute switch is remembered (localStorage).
(function () {
  var MUTE_KEY = "rf-scan-muted";
  var SESSION_KEY = "rf-scan-session";
  var LOG_LENGTH = 20;
  // Each tone: the oscillator's wave form and its notes as [frequency Hz, start s, length s].
  var TONES = {
    shipped: { type: "sine", notes: [[880, 0, 0.09], [1320, 0.1, 0.14]] },
    already_shipped: { type: "triangle", notes: [[660, 0, 0.12], [660, 0.18, 0.12]] },
    refused: { type: "square", notes: [[220, 0, 0.3], [165, 0.34, 0.4]] },
  };
  // Every oscillator started, for tests to check that a tone was played (they cannot hear it).
  window.__scanTones = window.__scanTones || [];
  var audio = null;

  function muted() {
    try { return window.localStorage.getItem(MUTE_KEY) === "1"; } catch (e) { return false; }
  }

  function context() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume();
    return audio;
  }

  function play(outcome) {
    var tone = TONES[outcome];
    if (!tone || muted()) return;
    var ctx = context();
    if (!ctx) return;
    var now = ctx.currentTime;
    tone.notes.forEach(function (note) {
      var oscillator = ctx.createOscillator();
      var gain = ctx.createGain();
      var start = now + note[1];
      var end = start + note[2];
      oscillator.type = tone.type;
      oscillator.frequency.value = note[0];
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.3, start + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, end);
      oscillator.connect(gain);
      gain.connect(ctx.destination);
      oscillator.start(start);
      oscillator.stop(end + 0.02);
      window.__scanTones.push({ outcome: outcome, type: tone.type, frequency: note[0] });
    });
  }

  function loadSession() {
    try {
      var kept = JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null");
      if (kept && kept.counts && kept.log) return kept;
    } catch (e) { /* a broken entry starts a new session */ }
    return { counts: { shipped: 0, already_shipped: 0, refused: 0 }, log: [] };
  }

  function saveSession(session) {
    try { window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(session)); } catch (e) { /* private mode */ }
  }

  function render(session) {
    document.querySelectorAll("[data-scan-count]").forEach(function (el) {
      el.textContent = String(session.counts[el.dataset.scanCount] || 0);
    });
    var list = document.querySelector("[data-scan-log]");
    if (!list) return;
    list.replaceChildren();
    if (!session.log.length) {
      var empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = list.dataset.empty || "";
      list.appendChild(empty);
      return;
    }
    session.log.forEach(function (entry) {
      var item = document.createElement("li");
      item.dataset.outcome = entry.outcome;
      item.dataset.testid = "scan-log-entry";
      item.textContent = entry.time + " · " + entry.text;  // text, never markup: it repeats what was scanned
      list.appendChild(item);
    });
  }

  function record(panel) {
    var outcome = panel.dataset.outcome;
    if (!outcome || panel.dataset.recorded) return;
    panel.dataset.recorded = "1";
    play(outcome);
    var session = loadSession();
    session.counts[outcome] = (session.counts[outcome] || 0) + 1;
    session.log.unshift({
      outcome: outcome,
      time: new Date().toLocaleTimeString(),
      text: (panel.textContent || "").replace(/\s+/g, " ").trim(),
    });
    session.log = session.log.slice(0, LOG_LENGTH);
    saveSession(session);
    render(session);
  }

  function input() {
    return document.querySelector("form[data-scan] input[name=waybill_no]");
  }

  function showMute(button) {
    var on = muted();
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? button.dataset.labelOff : button.dataset.labelOn;
  }

  // The values are taken when the request is built: empty the input then, for the next scan.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.target.closest("form[data-scan]")) return;
    var field = input();
    if (field) field.value = "";
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.target.closest("form[data-scan]")) return;
    var field = input();
    if (field) field.focus();
  });

  document.addEventListener("htmx:load", function (event) {
    if (event.target.id === "scan-result") record(event.target);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-scan-mute]");
    if (!button) return;
    try { window.localStorage.setItem(MUTE_KEY, muted() ? "0" : "1"); } catch (e) { /* private mode */ }
    showMute(button);
    var field = input();
    if (field) field.focus();
  });

  function start() {
    var button = document.querySelector("[data-scan-mute]");
    if (button) showMute(button);
    render(loadSession());
    // An answer in the page itself (the form sent without htmx) counts too.
    var panel = document.getElementById("scan-result");
    if (panel) record(panel);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
