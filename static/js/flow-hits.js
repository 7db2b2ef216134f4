// Live hit counts on the flow editor's canvas: each node of the live version shows how many orders passed it
// since the version went live and in the last 24 hours, each exit of a condition or switch its share; a
// click lists those orders (in a new tab, so the canvas and its unsaved changes stay). While a canary runs,
// the legend switches the canvas between the live version's counts and the canary version's (since the
// canary started), so the two can be compared node by node.
// The counts come from the server's counters (the legend's data-hits-url), read again every minute. The
// canvas is redrawn whenever the document changes, so the counts are put back on whatever nodes are drawn:
// in the node's count slot (.fn-count, a line of its own) when the canvas draws one, else pinned to the node's
// corner; a share after its exit's label, in the exit's row (.fn-exit).
(function () {
  "use strict";

  var REFRESH_MS = 60000;

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function format(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (_, key) { return String(values[key]); });
  }

  function percent(share) {
    return share == null ? "–" : Math.round(share * 100) + "%";
  }

  function start(legend, canvas) {
    var MSG = readJson("flow-hits-messages") || {};
    var body = null;
    var shown = "live"; // or "canary", while one runs
    var hits = null; // the counts the canvas shows: the live version's, or the canary's

    function ordersUrl(nodeId, port) {
      var query = "?node=" + encodeURIComponent(nodeId) + "&version=" + encodeURIComponent(hits.version_id);
      if (port) query += "&port=" + encodeURIComponent(port);
      return legend.dataset.ordersUrl + query;
    }

    function link(className, testid, href, text, title) {
      var a = document.createElement("a");
      a.className = className + (shown === "canary" ? " is-canary" : "");
      a.setAttribute("data-testid", testid);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = text;
      a.title = title;
      return a;
    }

    // Put the counts on every drawn node that lacks them; nodes the shown version does not have get none.
    function apply() {
      if (!hits || !hits.version_id) return;
      var canary = shown === "canary";
      canvas.querySelectorAll(".drawflow-node[data-node-id]").forEach(function (el) {
        var nodeId = el.getAttribute("data-node-id");
        if (hits.live_nodes.indexOf(nodeId) < 0) {
          el.querySelectorAll(".fn-hits, .fn-share").forEach(function (old) { old.remove(); });
          return;
        }
        var count = hits.nodes[nodeId] || { since_live: 0, last_24h: 0, ports: {} };
        var slot = el.querySelector(".fn-count") || el;
        var badge = slot.querySelector(".fn-hits");
        var text = format(canary ? MSG.canaryCount : MSG.count, count);
        if (!badge || badge.textContent !== text || badge.getAttribute("href") !== ordersUrl(nodeId)) {
          if (badge) badge.remove();
          slot.appendChild(link("fn-hits", "hits-" + nodeId, ordersUrl(nodeId), text,
            format(canary ? MSG.canaryCountTitle : MSG.countTitle, count)));
        }
        var outputs = el.querySelectorAll(".outputs .output[data-port]");
        if (outputs.length < 2) return;
        outputs.forEach(function (out) {
          var port = out.getAttribute("data-port");
          // An exit no order took has no counter: 0 of the node's passes (none when the node has none).
          var taken = count.ports[port] || { since_live: 0, last_24h: 0 };
          var shareText = percent(count.since_live ? taken.since_live / count.since_live : null);
          var share24h = percent(count.last_24h ? taken.last_24h / count.last_24h : null);
          var share = out.querySelector(".fn-share");
          if (share && share.textContent === shareText && share.getAttribute("href") === ordersUrl(nodeId, port)) return;
          if (share) share.remove();
          var row = out.querySelector(".fn-exit") || out;
          row.appendChild(link("fn-share", "share-" + nodeId + "-" + port, ordersUrl(nodeId, port), shareText,
            format(canary ? MSG.canaryShareTitle : MSG.shareTitle,
              { since_live: taken.since_live, last_24h: taken.last_24h, share_24h: share24h })));
        });
      });
    }

    function toggle(view, label) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "fe-hits-view secondary" + (view === "canary" ? " is-canary" : "");
      button.setAttribute("data-testid", "hits-show-" + view);
      button.setAttribute("aria-pressed", String(view === shown));
      button.title = MSG.showTitle;
      button.textContent = label;
      button.addEventListener("click", function () {
        shown = view;
        show();
      });
      return button;
    }

    // The legend and the canvas for the counts shown: the live version's only, unless a canary runs.
    function show() {
      if (!body.canary) shown = "live";
      hits = shown === "canary" ? body.canary : body;
      legend.hidden = !body.version_id;
      legend.textContent = "";
      if (!body.version_id) return;
      if (body.canary) {
        legend.appendChild(document.createTextNode(MSG.legendBoth + " "));
        legend.appendChild(toggle("live", format(MSG.showLive, { number: body.version_number })));
        legend.appendChild(toggle("canary", format(MSG.showCanary, { number: body.canary.version_number })));
      } else {
        legend.textContent = format(MSG.legend, { number: body.version_number });
      }
      apply();
    }

    function load() {
      return fetch(legend.dataset.hitsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (loaded) {
          if (!loaded) return;
          body = loaded;
          show();
        })
        .catch(function () { /* the counts are a help; the editor works without them */ });
    }

    // A click on a count opens its list: the node must not also be selected, dragged or opened.
    document.addEventListener("mousedown", function (event) {
      if (event.target.closest && event.target.closest(".fn-hits, .fn-share")) event.stopPropagation();
    }, true);

    var pending = false;
    new MutationObserver(function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () { pending = false; apply(); });
    }).observe(canvas, { childList: true, subtree: true });

    load();
    window.setInterval(function () { if (!document.hidden) load(); }, REFRESH_MS);
  }

  function boot() {
    var legend = document.querySelector("#flow-editor [data-testid=hits-legend]");
    var canvas = document.getElementById("fe-canvas");
    if (legend && canvas && legend.dataset.hitsUrl) start(legend, canvas);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
