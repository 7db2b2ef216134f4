// The visual rule-flow editor. The flow document (DESIGN.md format) is the one source of truth here:
// Drawflow only draws it. Every change is made to the document, then the canvas is redrawn from it, so the
// library's own export (with its HTML) is never stored, and node markup always comes from the node type.
(function () {
  "use strict";

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function escapeHtml(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function clone(value) {
    return JSON.parse(JSON.stringify(value));
  }

  var MSG = readJson("flow-messages") || {};
  var PALETTE = readJson("flow-palette") || [];
  var ACTION_LABELS = {};
  PALETTE.forEach(function (item) {
    if (item.type === "action") ACTION_LABELS[item.config.action] = item.label;
  });

  // ------------------------------------------------------------------------------ the document model

  function portsOf(node) {
    if (node.type === "start" || node.type === "action") return ["next"];
    if (node.type === "condition") return ["true", "false"];
    if (node.type === "switch") {
      var branches = (node.config && Array.isArray(node.config.branches)) ? node.config.branches : [];
      return branches.filter(function (b) { return b && typeof b.id === "string"; })
        .map(function (b) { return b.id; }).concat(["default"]);
    }
    return [];
  }

  function portLabel(node, port) {
    if (port === "true") return MSG.yes;
    if (port === "false") return MSG.no;
    if (port === "default") return MSG.other;
    if (port === "next") return "";
    var branch = (node.config.branches || []).find(function (b) { return b && b.id === port; });
    return branch ? (branch.label || branch.id) : port;
  }

  function nodeLabel(node) {
    if (node.type === "action" && node.config && ACTION_LABELS[node.config.action]) return ACTION_LABELS[node.config.action];
    return MSG[node.type] || node.type;
  }

  // The head holds the node's type and the red problem badge (filled by showProblems); under the name and
  // summary a line for a count (.fn-count, empty and hidden until something such as hit counts fills it), so
  // a count never lies over the name however long the name is.
  function nodeHtml(node, summary) {
    var id = escapeHtml(node.id);
    return '<div class="fn-head"><span class="fn-type">' + escapeHtml(nodeLabel(node)) + "</span>" +
      '<span class="fn-badge" role="button" tabindex="0" data-testid="problem-badge-' + id + '"></span></div>' +
      // dir=auto isolates the name: a bidi control saved in it cannot reorder the rest of the node.
      '<div class="fn-name" dir="auto">' + escapeHtml(node.name || node.id) + "</div>" +
      (summary ? '<div class="fn-summary" dir="auto">' + escapeHtml(summary) + "</div>" : "") +
      '<div class="fn-count" data-testid="count-' + id + '"></div>';
  }

  // Our document -> Drawflow's import format. Returns the data and the id maps.
  function toDrawflow(doc, summaries, extraClasses) {
    var data = {};
    var dfOf = {};
    var nidOf = {};
    var nodes = Array.isArray(doc.nodes) ? doc.nodes : [];
    nodes.forEach(function (node, index) {
      if (!node || typeof node.id !== "string") return;
      var dfId = index + 1;
      dfOf[node.id] = dfId;
      nidOf[dfId] = node.id;
      var outputs = {};
      portsOf(node).forEach(function (_, i) { outputs["output_" + (i + 1)] = { connections: [] }; });
      var position = node.position || {};
      data[dfId] = {
        id: dfId,
        name: node.type,
        data: { nid: node.id },
        class: "fn type-" + node.type + (extraClasses && extraClasses[node.id] ? " " + extraClasses[node.id] : ""),
        html: nodeHtml(node, summaries[node.id]),
        typenode: false,
        inputs: node.type === "start" ? {} : { input_1: { connections: [] } },
        outputs: outputs,
        pos_x: Number(position.x) || 0,
        pos_y: Number(position.y) || 0,
      };
    });
    (Array.isArray(doc.edges) ? doc.edges : []).forEach(function (edge) {
      var source = nodes.find(function (n) { return n && n.id === edge.source; });
      var from = dfOf[edge.source];
      var to = dfOf[edge.target];
      if (!source || !from || !to || !data[to].inputs.input_1) return;
      var k = portsOf(source).indexOf(edge.port);
      if (k < 0) return;
      var output = "output_" + (k + 1);
      data[from].outputs[output].connections.push({ node: String(to), output: "input_1" });
      data[to].inputs.input_1.connections.push({ node: String(from), input: output });
    });
    return { data: { drawflow: { Home: { data: data } } }, dfOf: dfOf, nidOf: nidOf };
  }

  // Positions and connections from Drawflow's export, merged into our document (names and configs stay ours).
  function fromDrawflow(exported, doc) {
    var data = exported.drawflow.Home.data;
    var byNid = {};
    Object.keys(data).forEach(function (key) { byNid[data[key].data.nid] = data[key]; });
    var next = clone(doc);
    next.nodes = next.nodes.filter(function (node) { return byNid[node.id]; });
    next.nodes.forEach(function (node) {
      var df = byNid[node.id];
      node.position = { x: Math.round(df.pos_x), y: Math.round(df.pos_y) };
    });
    var oldEdges = Array.isArray(doc.edges) ? doc.edges : [];
    var edges = [];
    var used = {};
    next.nodes.forEach(function (node) {
      var df = byNid[node.id];
      var ports = portsOf(node);
      Object.keys(df.outputs).forEach(function (output) {
        var port = ports[parseInt(output.slice(7), 10) - 1];
        df.outputs[output].connections.forEach(function (conn) {
          var target = data[conn.node] && data[conn.node].data.nid;
          if (!port || !target) return;
          var old = oldEdges.find(function (e) { return e.source === node.id && e.port === port && e.target === target; });
          var id = old && !used[old.id] ? old.id : newEdgeId(oldEdges.concat(edges), used);
          used[id] = true;
          edges.push({ id: id, source: node.id, target: target, port: port });
        });
      });
    });
    next.edges = edges;
    return next;
  }

  function newEdgeId(edges, used) {
    var n = 1;
    var taken = {};
    edges.forEach(function (e) { taken[e.id] = true; });
    while (taken["e" + n] || used["e" + n]) n++;
    return "e" + n;
  }

  function newNodeId(doc, type) {
    var prefix = { start: "start", condition: "c", switch: "s", action: "a", end: "end" }[type] || "n";
    var taken = {};
    doc.nodes.forEach(function (n) { taken[n.id] = true; });
    if ((type === "start" || type === "end") && !taken[prefix]) return prefix;
    var n = 1;
    while (taken[prefix + n]) n++;
    return prefix + n;
  }

  // Node names are 14 px: a fitted view never shows them smaller than 12 px (the designer may zoom out further).
  var READABLE_ZOOM = 0.85;
  var VIEW_PAD = 32;
  var LANE_HEAD = 56;

  // The canvas's view. Drawflow draws the canvas translated by (canvas_x, canvas_y) and scaled by zoom around
  // the container's centre, so a canvas point p is shown at canvas_x + w/2 + (p - w/2) * zoom. Every zoom
  // and pan goes through place(), which keeps Drawflow's own fields (its dragging reads them) in step.
  function viewOf(editor) {
    function size() {
      return { w: editor.precanvas.clientWidth, h: editor.precanvas.clientHeight };
    }
    function show(z, x, y) {
      editor.zoom = z;
      editor.zoom_last_value = z;
      editor.canvas_x = x;
      editor.canvas_y = y;
      editor.precanvas.style.transform = "translate(" + x + "px, " + y + "px) scale(" + z + ")";
      editor.dispatch("zoom", z);
      editor.dispatch("translate", { x: x, y: y });
    }
    function clamp(z) {
      return Math.min(editor.zoom_max, Math.max(editor.zoom_min, z));
    }
    // Show the canvas point (px, py) at (sx, sy) of the container, at zoom z.
    function place(z, px, py, sx, sy) {
      var s = size();
      show(z, sx - s.w / 2 - (px - s.w / 2) * z, sy - s.h / 2 - (py - s.h / 2) * z);
    }
    // The canvas point shown at (sx, sy) of the container.
    function toCanvas(sx, sy) {
      var s = size();
      var z = editor.zoom;
      return { x: (sx - editor.canvas_x - s.w / 2) / z + s.w / 2, y: (sy - editor.canvas_y - s.h / 2) / z + s.h / 2 };
    }
    var view = {
      size: size,
      place: place,
      toCanvas: toCanvas,
      // Zoom keeping the point under (sx, sy) where it is: the pointer for the wheel, the centre for buttons.
      zoomAt: function (z, sx, sy) {
        var p = toCanvas(sx, sy);
        place(clamp(z), p.x, p.y, sx, sy);
      },
      zoomBy: function (step) {
        var s = size();
        view.zoomAt(Math.round((editor.zoom + step) * 100) / 100, s.w / 2, s.h / 2);
      },
      panBy: function (dx, dy) {
        show(editor.zoom, editor.canvas_x + dx, editor.canvas_y + dy);
      },
      // The part of the canvas in view, in canvas units; ``at`` is a translation Drawflow is still dragging to.
      visible: function (at) {
        var s = size();
        var z = editor.zoom;
        var x = at ? at.x : editor.canvas_x;
        var y = at ? at.y : editor.canvas_y;
        return { x: (-x - s.w / 2) / z + s.w / 2, y: (-y - s.h / 2) / z + s.h / 2, w: s.w / z, h: s.h / z };
      },
      // Bring a canvas point to the middle of the view, zooming in to a readable size if needed.
      centreOn: function (px, py) {
        var s = size();
        place(Math.max(editor.zoom, READABLE_ZOOM), px, py, s.w / 2, s.h / 2);
      },
      // The first view: the whole flow when it fits at a readable size; otherwise readable, from the start.
      first: function (boxes, startId) {
        if (!boxes.length) return;
        var b = bounds(boxes);
        b.y -= LANE_HEAD;
        b.h += LANE_HEAD;
        var s = size();
        var z = Math.min(1, (s.w - 2 * VIEW_PAD) / b.w, (s.h - 2 * VIEW_PAD) / b.h);
        if (z >= READABLE_ZOOM) {
          place(z, b.x + b.w / 2, b.y + b.h / 2, s.w / 2, s.h / 2);
          return;
        }
        z = READABLE_ZOOM;
        var start = boxes.find(function (box) { return box.nid === startId; }) ||
          boxes.reduce(function (a, box) { return box.x < a.x ? box : a; });
        if (start.y + start.h - b.y <= (s.h - 2 * VIEW_PAD) / z) place(z, start.x, b.y, VIEW_PAD, VIEW_PAD);
        else place(z, start.x, start.y + start.h / 2, VIEW_PAD, s.h / 2);
      },
    };
    return view;
  }

  function bounds(boxes) {
    var left = Math.min.apply(null, boxes.map(function (b) { return b.x; }));
    var top = Math.min.apply(null, boxes.map(function (b) { return b.y; }));
    var right = Math.max.apply(null, boxes.map(function (b) { return b.x + b.w; }));
    var bottom = Math.max.apply(null, boxes.map(function (b) { return b.y + b.h; }));
    return { x: left, y: top, w: right - left, h: bottom - top };
  }

  // Where each drawn node is, in canvas units: {nid, x, y, w, h}.
  function nodeBoxes(editor, container) {
    var data = editor.drawflow.drawflow.Home.data;
    return Object.keys(data).map(function (key) {
      var el = container.querySelector("#node-" + key);
      return {
        nid: data[key].data.nid,
        x: data[key].pos_x,
        y: data[key].pos_y,
        w: el ? el.offsetWidth : 170,
        h: el ? el.offsetHeight : 60,
      };
    });
  }

  function startOf(doc) {
    var start = doc.nodes.find(function (n) { return n && n.type === "start"; });
    return start ? start.id : null;
  }

  // Lanes (整理布局's stages) drawn as bands behind their nodes, from where the nodes are now.
  function drawLanes(editor, container, lanes) {
    editor.precanvas.querySelectorAll(".fe-lane").forEach(function (el) { el.remove(); });
    var named = (lanes || []).filter(function (lane) { return lane.name; });
    if (!named.length) return;
    var boxes = nodeBoxes(editor, container);
    var byId = {};
    boxes.forEach(function (b) { byId[b.nid] = b; });
    if (!boxes.length) return;
    var all = bounds(boxes);
    var first = editor.precanvas.firstChild; // bands go before the nodes, so they are drawn behind them
    named.forEach(function (lane, index) {
      var members = lane.nodes.map(function (nid) { return byId[nid]; }).filter(Boolean);
      if (!members.length) return;
      var b = bounds(members);
      var band = document.createElement("div");
      band.className = "fe-lane" + (index % 2 ? " odd" : "");
      band.setAttribute("data-testid", "lane");
      band.dataset.lane = lane.name;
      band.style.left = b.x - 20 + "px";
      band.style.top = all.y - LANE_HEAD + "px";
      band.style.width = b.w + 40 + "px";
      band.style.height = all.h + LANE_HEAD + 24 + "px";
      var title = document.createElement("div");
      title.className = "fe-lane-title";
      title.textContent = lane.name;
      band.appendChild(title);
      editor.precanvas.insertBefore(band, first);
    });
  }

  function newDrawflow(container) {
    var editor = new window.Drawflow(container);
    editor.reroute = false;
    editor.zoom_min = 0.3;
    editor.zoom_max = 2;
    editor.start();
    // Drawflow pans from a press on the container only when "parent-drawflow" is its first class; the canvas
    // (translated) no longer covers the whole container once the view has moved, so put it first.
    container.className = "parent-drawflow " + container.className.replace(/\bparent-drawflow\b/, "").trim();
    return editor;
  }

  // Labels, test ids and port names on the rendered nodes (Drawflow creates bare dots). An exit's label is a
  // row right of its dot (.fn-exit), where other figures for the exit (its hit share) go after the label.
  function decorate(container, doc, map) {
    doc.nodes.forEach(function (node) {
      var el = container.querySelector("#node-" + map.dfOf[node.id]);
      if (!el) return;
      el.setAttribute("data-testid", "node-" + node.id);
      el.setAttribute("data-node-id", node.id);
      var input = el.querySelector(".input");
      if (input) input.setAttribute("data-testid", "in-" + node.id);
      portsOf(node).forEach(function (port, i) {
        var out = el.querySelector(".outputs .output_" + (i + 1));
        if (!out) return;
        out.setAttribute("data-testid", "port-" + node.id + "-" + port);
        out.setAttribute("data-port", port);
        var label = portLabel(node, port);
        out.title = label || MSG.next || "";
        out.querySelectorAll(".fn-exit").forEach(function (old) { old.remove(); });
        if (!label) return;
        out.setAttribute("data-label", label);
        var row = document.createElement("span");
        row.className = "fn-exit";
        var text = document.createElement("span");
        text.className = "fn-exit-label";
        text.setAttribute("data-testid", "exit-label-" + node.id + "-" + port);
        text.textContent = label;
        row.appendChild(text);
        out.appendChild(row);
      });
    });
  }

  function connectionElement(container, map, doc, edge) {
    var source = doc.nodes.find(function (n) { return n.id === edge.source; });
    if (!source) return null;
    var k = portsOf(source).indexOf(edge.port);
    if (k < 0 || !map.dfOf[edge.target]) return null;
    return container.querySelector(".connection.node_in_node-" + map.dfOf[edge.target] +
      ".node_out_node-" + map.dfOf[edge.source] + ".output_" + (k + 1));
  }

  // ------------------------------------------------------------------------------ the diff page (read-only)

  function startDiff() {
    var payload = readJson("diff-data");
    var container = document.getElementById("diff-canvas");
    var doc = clone(payload.right);
    doc.nodes = Array.isArray(doc.nodes) ? doc.nodes : [];
    doc.edges = Array.isArray(doc.edges) ? doc.edges : [];
    var status = payload.status || {};
    // Removed nodes are drawn faded where they were, so the picture shows what went away.
    (payload.left.nodes || []).forEach(function (node) {
      if (status[node.id] === "removed") doc.nodes.push(node);
    });
    var classes = {};
    Object.keys(status).forEach(function (id) { classes[id] = "diff-" + status[id]; });
    var editor = newDrawflow(container);
    editor.editor_mode = "view";
    var map = toDrawflow(doc, {}, classes);
    editor.import(map.data);
    decorate(container, doc, map);
    viewOf(editor).first(nodeBoxes(editor, container), startOf(doc));
  }

  // ------------------------------------------------------------------------------ the editor

  function startEditor(root) {
    var container = document.getElementById("fe-canvas");
    var editor = newDrawflow(container);
    var view = viewOf(editor);
    var state = {
      doc: readJson("flow-document"),
      summaries: readJson("flow-summaries") || {},
      problems: readJson("flow-problems") || [],
      lanes: readJson("flow-lanes") || [],
      nodeProblems: {},
      search: { text: "", matches: [], at: -1 },
      revision: parseInt(root.dataset.revision, 10),
      locale: root.dataset.locale,
      undo: [],
      redo: [],
      committed: null,
      selection: [],
      map: null,
      highlight: null,
      dirty: false,
      saving: false,
      saveAgain: false,
      conflict: false,
      saveTimer: null,
      syncPending: false,
      panelNode: null,
      dragStart: null,
    };
    if (!Array.isArray(state.doc.nodes)) state.doc.nodes = [];
    if (!Array.isArray(state.doc.edges)) state.doc.edges = [];
    state.committed = JSON.stringify(state.doc);

    var statusEl = root.querySelector("[data-testid=save-status]");
    var zoomEl = root.querySelector("[data-testid=zoom-level]");

    function setStatus(kind, text) {
      statusEl.dataset.state = kind;
      statusEl.textContent = text;
    }

    // --- drawing

    function render() {
      hidePopover();
      state.map = toDrawflow(state.doc, state.summaries);
      editor.import(state.map.data);
      decorate(container, state.doc, state.map);
      drawLanes(editor, container, state.lanes);
      showSelection();
      showProblems();
      showHighlight();
      showSearch();
      drawMinimap();
    }

    function nodeEl(nid) {
      return container.querySelector("#node-" + state.map.dfOf[nid]);
    }

    function showSelection() {
      container.querySelectorAll(".drawflow-node.multi-selected").forEach(function (el) { el.classList.remove("multi-selected"); });
      state.selection.forEach(function (nid) {
        var el = nodeEl(nid);
        if (el) el.classList.add("multi-selected");
      });
    }

    // The node a problem is about: named by the validator, or read from its path (nodes[3].config…).
    function problemNode(problem) {
      if (problem.node_id) return problem.node_id;
      var match = /^nodes\[(\d+)\]/.exec(problem.path || "");
      var node = match && state.doc.nodes[parseInt(match[1], 10)];
      return node && typeof node.id === "string" ? node.id : null;
    }

    function showProblems() {
      container.querySelectorAll(".has-problem").forEach(function (el) { el.classList.remove("has-problem"); });
      container.querySelectorAll(".edge-problem").forEach(function (el) { el.classList.remove("edge-problem"); });
      container.querySelectorAll(".fn-badge").forEach(function (el) {
        el.textContent = "";
        el.removeAttribute("title");
        el.removeAttribute("aria-label");
      });
      var list = document.getElementById("fe-problems");
      list.innerHTML = "";
      state.nodeProblems = {};
      state.problems.forEach(function (problem) {
        var message = state.locale === "en" ? problem.message_en : problem.message_zh;
        var nid = problemNode(problem);
        var li = document.createElement("li");
        li.textContent = message;
        li.setAttribute("data-testid", "problem");
        if (nid) li.dataset.node = nid;
        list.appendChild(li);
        if (problem.edge_id) {
          var edge = state.doc.edges.find(function (e) { return e.id === problem.edge_id; });
          var conn = edge && connectionElement(container, state.map, state.doc, edge);
          if (conn) conn.classList.add("edge-problem");
        } else if (nid) {
          (state.nodeProblems[nid] = state.nodeProblems[nid] || []).push(message);
        }
      });
      Object.keys(state.nodeProblems).forEach(function (nid) {
        var el = nodeEl(nid);
        if (!el) return;
        var messages = state.nodeProblems[nid];
        el.classList.add("has-problem");
        var badge = el.querySelector(".fn-badge");
        badge.textContent = String(messages.length);
        badge.title = messages.join("\n");
        badge.setAttribute("aria-label", MSG.problemBadge.replace("{count}", messages.length));
      });
      drawMinimap();
      if (!state.problems.length) {
        var ok = document.createElement("li");
        ok.className = "ok";
        ok.setAttribute("data-testid", "no-problems");
        ok.textContent = MSG.noProblems;
        list.appendChild(ok);
      }
      root.querySelector("[data-testid=problem-count]").textContent = state.problems.length;
    }

    function showHighlight() {
      container.querySelectorAll(".sim-path, .sim-failed").forEach(function (el) { el.classList.remove("sim-path", "sim-failed"); });
      container.querySelectorAll(".sim-edge").forEach(function (el) { el.classList.remove("sim-edge"); });
      if (!state.highlight) return;
      state.highlight.path.forEach(function (nid) {
        var el = nodeEl(nid);
        if (el) el.classList.add("sim-path");
      });
      if (state.highlight.failed) {
        var failed = nodeEl(state.highlight.failed);
        if (failed) failed.classList.add("sim-failed");
      }
      state.highlight.edges.forEach(function (edgeId) {
        var edge = state.doc.edges.find(function (e) { return e.id === edgeId; });
        var conn = edge && connectionElement(container, state.map, state.doc, edge);
        if (conn) conn.classList.add("sim-edge");
      });
    }

    // --- changing the document

    function changed() {
      state.committed = JSON.stringify(state.doc);
      state.redo = [];
      state.highlight = null;
      markDirty();
    }

    function commit(mutate) {
      state.undo.push(state.committed);
      if (state.undo.length > 100) state.undo.shift();
      mutate(state.doc);
      changed();
      render();
    }

    // Drawflow changed positions or connections itself: read them back, as one step of undo.
    function sync() {
      var next = fromDrawflow(editor.export(), state.doc);
      if (JSON.stringify(next) === state.committed) return;
      state.undo.push(state.committed);
      state.doc = next;
      changed();
      showSelection();
      showProblems();
      drawLanes(editor, container, state.lanes);
      drawMinimap();
    }

    // Once per burst of Drawflow's events.
    function scheduleSync() {
      if (state.syncPending) return;
      state.syncPending = true;
      setTimeout(function () {
        state.syncPending = false;
        sync();
      }, 0);
    }

    function restore(snapshot) {
      state.doc = JSON.parse(snapshot);
      state.committed = snapshot;
      state.selection = state.selection.filter(function (nid) { return state.doc.nodes.some(function (n) { return n.id === nid; }); });
      state.highlight = null;
      render();
      markDirty();
      if (state.panelNode) {
        var still = state.doc.nodes.find(function (n) { return n.id === state.panelNode; });
        if (still) openPanel(still.id); else closePanel();
      }
    }

    function undo() {
      if (!state.undo.length) return;
      state.redo.push(state.committed);
      restore(state.undo.pop());
    }

    function redo() {
      if (!state.redo.length) return;
      state.undo.push(state.committed);
      restore(state.redo.pop());
    }

    function paletteItem(kind) {
      return PALETTE.find(function (item) { return item.key === kind; });
    }

    function addNode(kind, x, y) {
      var item = paletteItem(kind);
      if (!item) return;
      var id;
      commit(function (doc) {
        id = newNodeId(doc, item.type);
        doc.nodes.push({ id: id, type: item.type, name: item.label, position: { x: Math.round(x), y: Math.round(y) }, config: clone(item.config) });
      });
      select([id]);
      openPanel(id);
    }

    function removeNodes(ids) {
      if (!ids.length) return;
      commit(function (doc) {
        doc.nodes = doc.nodes.filter(function (n) { return ids.indexOf(n.id) < 0; });
        doc.edges = doc.edges.filter(function (e) { return ids.indexOf(e.source) < 0 && ids.indexOf(e.target) < 0; });
      });
      if (ids.indexOf(state.panelNode) >= 0) closePanel();
      select([]);
    }

    function copySelection() {
      if (!state.selection.length) return false;
      var ids = state.selection.slice();
      var clip = {
        nodes: state.doc.nodes.filter(function (n) { return ids.indexOf(n.id) >= 0; }),
        edges: state.doc.edges.filter(function (e) { return ids.indexOf(e.source) >= 0 && ids.indexOf(e.target) >= 0; }),
      };
      try { localStorage.setItem("ruleflow-clipboard", JSON.stringify(clip)); } catch (e) { /* private mode */ }
      state.clipboard = clip;
      return true;
    }

    function paste() {
      var clip = state.clipboard;
      try { clip = JSON.parse(localStorage.getItem("ruleflow-clipboard")) || clip; } catch (e) { /* keep ours */ }
      if (!clip || !clip.nodes || !clip.nodes.length) return;
      var pasted = [];
      commit(function (doc) {
        var renamed = {};
        clip.nodes.forEach(function (node) {
          var copy = clone(node);
          copy.id = newNodeId(doc, node.type);
          renamed[node.id] = copy.id;
          copy.position = { x: (node.position ? node.position.x : 0) + 40, y: (node.position ? node.position.y : 0) + 40 };
          doc.nodes.push(copy);
          pasted.push(copy.id);
        });
        clip.edges.forEach(function (edge) {
          doc.edges.push({ id: newEdgeId(doc.edges, {}), source: renamed[edge.source], target: renamed[edge.target], port: edge.port });
        });
      });
      select(pasted);
    }

    function nudge(dx, dy) {
      var ids = state.selection.slice();
      commit(function (doc) {
        doc.nodes.forEach(function (n) {
          if (ids.indexOf(n.id) >= 0) n.position = { x: (n.position.x || 0) + dx, y: (n.position.y || 0) + dy };
        });
      });
    }

    function select(ids) {
      state.selection = ids;
      showSelection();
    }

    // --- saving

    function markDirty() {
      state.dirty = true;
      if (state.conflict) return;
      setStatus("unsaved", MSG.unsaved);
      clearTimeout(state.saveTimer);
      state.saveTimer = setTimeout(save, 1200);
    }

    function csrf() {
      var meta = document.querySelector('meta[name="csrf-token"]');
      return meta ? meta.getAttribute("content") : "";
    }

    function save() {
      clearTimeout(state.saveTimer);
      if (state.conflict) return Promise.resolve();
      if (state.saving) {
        state.saveAgain = true;
        return state.saving;
      }
      var body = JSON.stringify({ document: state.doc, base_revision: state.revision });
      var sent = state.committed;
      setStatus("saving", MSG.saving);
      state.saving = fetch(root.dataset.saveUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: body,
        credentials: "same-origin",
      }).then(function (response) {
        return response.json().then(function (data) { return { status: response.status, data: data }; });
      }).then(function (reply) {
        if (reply.status === 409) {
          state.conflict = true;
          setStatus("conflict", MSG.conflict);
          return;
        }
        if (reply.status !== 200) throw new Error(reply.data.detail || "save failed");
        state.revision = reply.data.revision;
        root.dataset.revision = reply.data.revision;
        state.problems = reply.data.problems;
        showProblems();
        if (sent === state.committed) {
          state.dirty = false;
          setStatus("saved", MSG.saved + " " + new Date().toLocaleTimeString());
        }
      }).catch(function () {
        setStatus("failed", MSG.failed);
        state.saveTimer = setTimeout(save, 5000);
      }).then(function () {
        state.saving = false;
        if (state.saveAgain || (state.dirty && !state.conflict && statusEl.dataset.state !== "failed")) {
          state.saveAgain = false;
          if (state.dirty) return save();
        }
      });
      return state.saving;
    }

    window.addEventListener("beforeunload", function (event) {
      if (state.dirty && !state.conflict) {
        event.preventDefault();
        event.returnValue = MSG.leave;
      }
    });

    // --- the side panel (rendered by the server)

    function openPanel(nid) {
      var node = state.doc.nodes.find(function (n) { return n.id === nid; });
      if (!node) return;
      state.panelNode = nid;
      showTab("panel");
      window.htmx.ajax("POST", root.dataset.panelUrl, {
        target: "#fe-panel",
        swap: "innerHTML",
        values: { node: JSON.stringify(node), intent: "open" },
      });
    }

    function closePanel() {
      state.panelNode = null;
      document.getElementById("fe-panel").innerHTML = "";
    }

    document.body.addEventListener("htmx:afterSwap", function (event) {
      var target = event.detail.target;
      if (target && target.id === "fe-panel") {
        var script = target.querySelector(".node-update");
        if (!script) return;
        var update = JSON.parse(script.textContent);
        state.summaries[update.node.id] = update.summary;
        if (script.dataset.changed !== "yes") {
          renderSummary(update.node.id);
          return;
        }
        var node = state.doc.nodes.find(function (n) { return n.id === update.node.id; });
        if (!node) return;
        if (node.name === update.node.name && JSON.stringify(node.config) === JSON.stringify(update.node.config)) return;
        commit(function (doc) {
          var current = doc.nodes.find(function (n) { return n.id === update.node.id; });
          current.name = update.node.name;
          current.config = update.node.config;
          // A removed switch branch takes its connection with it.
          var ports = portsOf(current);
          doc.edges = doc.edges.filter(function (e) { return e.source !== current.id || ports.indexOf(e.port) >= 0; });
        });
      } else if (target && target.id === "sim-result") {
        var outcome = target.querySelector(".sim-outcome");
        state.highlight = outcome ? {
          path: JSON.parse(outcome.dataset.path),
          edges: JSON.parse(outcome.dataset.edges),
          failed: outcome.dataset.failed,
        } : null;
        showHighlight();
      }
    });

    function renderSummary(nid) {
      var el = nodeEl(nid);
      var node = state.doc.nodes.find(function (n) { return n.id === nid; });
      if (!el || !node) return;
      var content = el.querySelector(".drawflow_content_node");
      content.innerHTML = nodeHtml(node, state.summaries[nid]);
      showProblems();
    }

    // Simulate what is on the canvas, not only what was saved (added here: the page may not run js: values).
    root.querySelector("[data-testid=simulate-form]").addEventListener("htmx:configRequest", function (event) {
      event.detail.parameters.document = JSON.stringify(state.doc);
    });
    window.FlowEditor = {
      documentJson: function () { return JSON.stringify(state.doc); },
      save: save,
    };

    // --- tabs

    function showTab(name) {
      root.querySelectorAll(".fe-tabs button").forEach(function (b) { b.classList.toggle("active", b.dataset.tab === name); });
      root.querySelectorAll(".fe-tab").forEach(function (pane) { pane.hidden = pane.dataset.pane !== name; });
    }

    root.querySelectorAll(".fe-tabs button").forEach(function (button) {
      button.addEventListener("click", function () { showTab(button.dataset.tab); });
    });

    document.getElementById("fe-problems").addEventListener("click", function (event) {
      var li = event.target.closest("li[data-node]");
      if (!li) return;
      select([li.dataset.node]);
      openPanel(li.dataset.node);
    });

    // --- Drawflow's own changes

    editor.on("nodeMoved", scheduleSync);
    editor.on("nodeRemoved", scheduleSync);
    editor.on("connectionRemoved", scheduleSync);
    editor.on("connectionCreated", function (info) {
      // One exit leads to one place: a new connection from an exit replaces the old one.
      var node = editor.getNodeFromId(info.output_id);
      node.outputs[info.output_class].connections.slice().forEach(function (conn) {
        if (conn.node !== String(info.input_id)) {
          editor.removeSingleConnection(info.output_id, conn.node, info.output_class, conn.output);
        }
      });
      scheduleSync();
    });
    editor.on("zoom", function (level) { zoomEl.textContent = Math.round(level * 100) + "%"; });
    // Drawflow pans the canvas itself when the background is dragged; the overview follows.
    editor.on("translate", function (at) {
      hidePopover();
      drawMinimap(at);
    });

    // Ctrl+wheel (and a trackpad's pinch) zooms around the pointer; the wheel alone scrolls the canvas.
    // Caught before Drawflow's own handler, which zooms around the middle of the canvas.
    container.addEventListener("wheel", function (event) {
      event.preventDefault();
      event.stopPropagation();
      event.stopImmediatePropagation();
      var rect = container.getBoundingClientRect();
      var unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? rect.height : 1;
      var dx = event.deltaX * unit;
      var dy = event.deltaY * unit;
      if (event.ctrlKey || event.metaKey) {
        view.zoomAt(editor.zoom * Math.exp(-dy * 0.002), event.clientX - rect.left, event.clientY - rect.top);
      } else if (event.shiftKey && !dx) {
        view.panBy(-dy, 0);
      } else {
        view.panBy(-dx, -dy);
      }
    }, { capture: true, passive: false });

    // --- selecting, multi-selecting and moving together

    function canvasPoint(clientX, clientY) {
      var rect = container.getBoundingClientRect();
      return view.toCanvas(clientX - rect.left, clientY - rect.top);
    }

    container.addEventListener("mousedown", function (event) {
      if (event.button !== 0) return;
      var badge = event.target.closest(".fn-badge");
      if (badge && badge.textContent) {
        // The badge opens the node's problems; it neither selects nor drags the node.
        event.stopPropagation();
        event.preventDefault();
        showPopover(badge);
        return;
      }
      var nodeElement = event.target.closest(".drawflow-node");
      var onPort = event.target.classList.contains("output") || event.target.classList.contains("input");
      if (nodeElement && !onPort) {
        var nid = state.map.nidOf[nodeElement.id.slice(5)];
        if (event.shiftKey) {
          var ids = state.selection.slice();
          var at = ids.indexOf(nid);
          if (at >= 0) ids.splice(at, 1); else ids.push(nid);
          select(ids);
        } else if (state.selection.indexOf(nid) < 0) {
          select([nid]);
        }
        state.dragStart = { nid: nid, x: event.clientX, y: event.clientY, positions: positionsOf(state.selection) };
      } else if (!nodeElement && !onPort) {
        if (event.shiftKey) {
          event.stopPropagation(); // Shift+drag on the background selects; a plain drag pans
          startRubberBand(event);
        } else {
          select([]);
        }
      }
    }, true);

    container.addEventListener("mouseup", function (event) {
      var start = state.dragStart;
      state.dragStart = null;
      if (!start || event.shiftKey) return;
      if (Math.abs(event.clientX - start.x) < 3 && Math.abs(event.clientY - start.y) < 3) {
        select([start.nid]);
        openPanel(start.nid);
      }
    }, true);

    function positionsOf(ids) {
      var positions = {};
      ids.forEach(function (nid) {
        var df = editor.drawflow.drawflow.Home.data[state.map.dfOf[nid]];
        if (df) positions[nid] = { x: df.pos_x, y: df.pos_y };
      });
      return positions;
    }

    // Where a node is drawn, in canvas units (Drawflow's own pos_x/pos_y lag behind it while it drags).
    function shownAt(el) {
      return { x: parseFloat(el.style.left) || 0, y: parseFloat(el.style.top) || 0 };
    }

    editor.on("mouseMove", function () {
      var start = state.dragStart;
      if (!start || !editor.drag || state.selection.length < 2) return;
      var draggedEl = nodeEl(start.nid);
      var origin = start.positions[start.nid];
      if (!draggedEl || !origin) return;
      var dx = shownAt(draggedEl).x - origin.x;
      var dy = shownAt(draggedEl).y - origin.y;
      state.selection.forEach(function (nid) {
        if (nid === start.nid || !start.positions[nid]) return;
        var dfId = state.map.dfOf[nid];
        var df = editor.drawflow.drawflow.Home.data[dfId];
        df.pos_x = start.positions[nid].x + dx;
        df.pos_y = start.positions[nid].y + dy;
        var el = container.querySelector("#node-" + dfId);
        el.style.left = df.pos_x + "px";
        el.style.top = df.pos_y + "px";
        editor.updateConnectionNodes("node-" + dfId);
      });
    });

    // Drawflow 0.0.60 stores a dragged node one mouse movement behind where it draws it, and hears the mouse only
    // over the canvas, so a drag let go outside it never ends. Here a drag follows the mouse wherever it goes,
    // and at the release every moved node is put, in whole pixels, where it is shown and read back as one step.
    function dragging() {
      return editor.drag || editor.editor_selected || editor.connection || editor.drag_point;
    }

    function settleDrag() {
      var dfIds = [editor.ele_selected.id.slice(5)];
      state.selection.forEach(function (nid) {
        var dfId = String(state.map.dfOf[nid]);
        if (dfIds.indexOf(dfId) < 0) dfIds.push(dfId);
      });
      dfIds.forEach(function (dfId) {
        var el = container.querySelector("#node-" + dfId);
        var df = editor.drawflow.drawflow.Home.data[dfId];
        if (!el || !df) return;
        var at = shownAt(el);
        df.pos_x = Math.round(at.x);
        df.pos_y = Math.round(at.y);
        el.style.left = df.pos_x + "px";
        el.style.top = df.pos_y + "px";
        editor.updateConnectionNodes("node-" + dfId);
      });
      sync(); // now, so that a Ctrl+Z straight after the release undoes this move
    }

    document.addEventListener("mousemove", function (event) {
      if (dragging() && !container.contains(event.target)) editor.position(event);
    }, true);

    // Captured on the document, so this runs before Drawflow's own release handler on the canvas.
    document.addEventListener("mouseup", function (event) {
      if (editor.drag && editor.ele_selected) settleDrag();
      if (dragging() && !container.contains(event.target)) {
        state.dragStart = null;
        editor.dragEnd(event);
      }
    }, true);

    function startRubberBand(event) {
      var band = document.createElement("div");
      band.className = "fe-band";
      band.setAttribute("data-testid", "selection-band");
      document.body.appendChild(band);
      var x0 = event.clientX;
      var y0 = event.clientY;
      function move(e) {
        band.style.left = Math.min(x0, e.clientX) + "px";
        band.style.top = Math.min(y0, e.clientY) + "px";
        band.style.width = Math.abs(e.clientX - x0) + "px";
        band.style.height = Math.abs(e.clientY - y0) + "px";
      }
      function up(e) {
        document.removeEventListener("mousemove", move);
        document.removeEventListener("mouseup", up, true);
        band.remove();
        var left = Math.min(x0, e.clientX);
        var right = Math.max(x0, e.clientX);
        var top = Math.min(y0, e.clientY);
        var bottom = Math.max(y0, e.clientY);
        var ids = state.selection.slice();
        container.querySelectorAll(".drawflow-node").forEach(function (el) {
          var r = el.getBoundingClientRect();
          var nid = state.map.nidOf[el.id.slice(5)];
          if (r.right >= left && r.left <= right && r.bottom >= top && r.top <= bottom && ids.indexOf(nid) < 0) ids.push(nid);
        });
        select(ids);
      }
      move(event);
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up, true);
    }

    // --- the palette: drag an item onto the canvas (or focus it and press Enter)

    root.querySelectorAll(".fe-palette-item").forEach(function (item) {
      item.tabIndex = 0;
      item.setAttribute("role", "button");
      item.addEventListener("mousedown", function (event) {
        if (event.button !== 0) return;
        event.preventDefault();
        var ghost = item.cloneNode(true);
        ghost.classList.add("fe-ghost");
        ghost.removeAttribute("data-testid");
        document.body.appendChild(ghost);
        function move(e) {
          ghost.style.left = e.clientX + 4 + "px";
          ghost.style.top = e.clientY + 4 + "px";
        }
        function up(e) {
          document.removeEventListener("mousemove", move);
          document.removeEventListener("mouseup", up);
          ghost.remove();
          var rect = container.getBoundingClientRect();
          if (e.clientX >= rect.left && e.clientX <= rect.right && e.clientY >= rect.top && e.clientY <= rect.bottom) {
            var point = canvasPoint(e.clientX, e.clientY);
            addNode(item.dataset.kind, point.x - 70, point.y - 20);
          }
        }
        move(event);
        document.addEventListener("mousemove", move);
        document.addEventListener("mouseup", up);
      });
      item.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" && event.key !== " ") return;
        event.preventDefault();
        var rect = container.getBoundingClientRect();
        var point = canvasPoint(rect.left + rect.width / 2, rect.top + rect.height / 2);
        addNode(item.dataset.kind, point.x - 70, point.y - 20);
      });
    });

    // --- toolbar and keyboard

    function firstView() {
      view.first(nodeBoxes(editor, container), startOf(state.doc));
    }

    // --- 整理布局: the server works the layout out (app/domain/flows/layout.py); only positions change here

    function arrange() {
      var sizes = {};
      nodeBoxes(editor, container).forEach(function (b) { sizes[b.nid] = [b.w, b.h]; });
      return fetch(root.dataset.layoutUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ document: state.doc, sizes: sizes }),
        credentials: "same-origin",
      }).then(function (response) {
        if (!response.ok) throw new Error("layout refused");
        return response.json();
      }).then(function (layout) {
        state.lanes = layout.lanes;
        commit(function (doc) {
          doc.nodes.forEach(function (node) {
            var at = layout.positions[node.id];
            if (at) node.position = { x: at.x, y: at.y };
          });
        });
        firstView();
      }).catch(function () {
        setStatus("warning", MSG.arrangeFailed);
      });
    }

    // --- the overview (minimap): every node, and the part in view; click or drag it to move the view

    var minimap = root.querySelector("[data-testid=minimap]");
    var SVG = "http://www.w3.org/2000/svg";
    var mapSvg = document.createElementNS(SVG, "svg");
    mapSvg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    minimap.appendChild(mapSvg);
    var mapFrozen = false;

    function svgRect(x, y, w, h, className) {
      var rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", x);
      rect.setAttribute("y", y);
      rect.setAttribute("width", Math.max(w, 1));
      rect.setAttribute("height", Math.max(h, 1));
      rect.setAttribute("class", className);
      return rect;
    }

    function drawMinimap(at) {
      if (!minimap || !state.map) return;
      var visible = view.visible(at);
      var viewRect = mapSvg.querySelector(".mm-view");
      if (mapFrozen && viewRect) {
        // While the overview is dragged its scale stays put; only the view's frame moves.
        viewRect.setAttribute("x", visible.x);
        viewRect.setAttribute("y", visible.y);
        return;
      }
      var boxes = nodeBoxes(editor, container);
      var world = bounds(boxes.concat([visible]));
      var pad = Math.max(world.w, world.h) * 0.04;
      mapSvg.setAttribute("viewBox", [world.x - pad, world.y - pad, world.w + 2 * pad, world.h + 2 * pad].join(" "));
      while (mapSvg.firstChild) mapSvg.removeChild(mapSvg.firstChild);
      var hits = state.search.matches;
      boxes.forEach(function (b) {
        var node = state.doc.nodes.find(function (n) { return n.id === b.nid; });
        var cls = "mm-node type-" + (node ? node.type : "");
        if (state.nodeProblems[b.nid]) cls += " mm-problem";
        if (hits.indexOf(b.nid) >= 0) cls += " mm-hit";
        var rect = svgRect(b.x, b.y, b.w, b.h, cls);
        rect.setAttribute("data-node", b.nid);
        mapSvg.appendChild(rect);
      });
      var frame = svgRect(visible.x, visible.y, visible.w, visible.h, "mm-view");
      frame.setAttribute("data-testid", "minimap-view");
      mapSvg.appendChild(frame);
    }

    function moveViewTo(event) {
      var matrix = mapSvg.getScreenCTM();
      if (!matrix) return;
      var point = mapSvg.createSVGPoint();
      point.x = event.clientX;
      point.y = event.clientY;
      var at = point.matrixTransform(matrix.inverse());
      var s = view.size();
      view.place(editor.zoom, at.x, at.y, s.w / 2, s.h / 2);
    }

    minimap.addEventListener("mousedown", function (event) {
      if (event.button !== 0) return;
      event.preventDefault();
      mapFrozen = true;
      moveViewTo(event);
      function move(e) { moveViewTo(e); }
      function up() {
        document.removeEventListener("mousemove", move);
        document.removeEventListener("mouseup", up);
        mapFrozen = false;
        drawMinimap();
      }
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
    });

    // --- finding a node by name: matches are highlighted, Enter centres the view on the next one

    var searchEl = root.querySelector("[data-testid=node-search]");
    var searchCount = root.querySelector("[data-testid=search-count]");

    function runSearch() {
      var text = searchEl.value.trim().toLowerCase();
      state.search = {
        text: text,
        at: -1,
        matches: text ? state.doc.nodes.filter(function (n) {
          return String(n.name || n.id).toLowerCase().indexOf(text) >= 0;
        }).map(function (n) { return n.id; }) : [],
      };
      showSearch();
    }

    function showSearch() {
      container.querySelectorAll(".search-hit, .search-current").forEach(function (el) { el.classList.remove("search-hit", "search-current"); });
      var search = state.search;
      search.matches = search.matches.filter(function (nid) { return state.map.dfOf[nid]; });
      search.matches.forEach(function (nid, i) {
        var el = nodeEl(nid);
        el.classList.add("search-hit");
        if (i === search.at) el.classList.add("search-current");
      });
      if (!search.text) searchCount.textContent = "";
      else if (!search.matches.length) searchCount.textContent = MSG.noMatch;
      else searchCount.textContent = MSG.matchOf.replace("{current}", search.at >= 0 ? search.at + 1 : "–").replace("{total}", search.matches.length);
      drawMinimap();
    }

    function nextMatch(step) {
      var search = state.search;
      if (!search.matches.length) return;
      search.at = (search.at + step + search.matches.length) % search.matches.length;
      showSearch();
      var box = nodeBoxes(editor, container).find(function (b) { return b.nid === search.matches[search.at]; });
      if (box) view.centreOn(box.x + box.w / 2, box.y + box.h / 2);
    }

    searchEl.addEventListener("input", runSearch);
    searchEl.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        nextMatch(event.shiftKey ? -1 : 1);
      } else if (event.key === "Escape") {
        searchEl.value = "";
        runSearch();
      }
    });

    // --- a node's problems, from its red badge (a popover: CSP allows no inline handlers or styles)

    var popover = root.querySelector("[data-testid=problem-popover]");

    function showPopover(badge) {
      var el = badge.closest(".drawflow-node");
      var nid = el && state.map.nidOf[el.id.slice(5)];
      var messages = state.nodeProblems[nid];
      if (!messages) return;
      var node = state.doc.nodes.find(function (n) { return n.id === nid; });
      popover.innerHTML = "";
      var head = document.createElement("strong");
      head.textContent = MSG.problemsOf + " · ";
      var name = document.createElement("bdi");  // isolated: the name cannot reorder the heading
      name.textContent = node.name || node.id;
      head.appendChild(name);
      popover.appendChild(head);
      var list = document.createElement("ul");
      messages.forEach(function (message) {
        var li = document.createElement("li");
        li.textContent = message;
        list.appendChild(li);
      });
      popover.appendChild(list);
      popover.dataset.node = nid;
      var stage = popover.parentElement.getBoundingClientRect();
      var at = badge.getBoundingClientRect();
      popover.hidden = false;
      popover.style.left = Math.max(4, Math.min(at.left - stage.left - 8, stage.width - popover.offsetWidth - 4)) + "px";
      var below = at.bottom - stage.top + 6;
      var above = at.top - stage.top - popover.offsetHeight - 6;
      popover.style.top = (below + popover.offsetHeight > stage.height && above >= 0 ? above : below) + "px";
    }

    function hidePopover() {
      if (popover && !popover.hidden) popover.hidden = true;
    }

    document.addEventListener("mousedown", function (event) {
      if (!event.target.closest("[data-testid=problem-popover]") && !event.target.closest(".fn-badge")) hidePopover();
    });
    container.addEventListener("keydown", function (event) {
      var badge = event.target.closest && event.target.closest(".fn-badge");
      if (badge && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        event.stopPropagation();
        showPopover(badge);
      }
    }, true);

    var commands = {
      undo: undo,
      redo: redo,
      copy: copySelection,
      paste: paste,
      delete: function () {
        if (state.selection.length) removeNodes(state.selection.slice());
        else if (editor.connection_selected) editor.removeConnection();
      },
      "zoom-in": function () { view.zoomBy(0.1); },
      "zoom-out": function () { view.zoomBy(-0.1); },
      "zoom-reset": firstView,
      arrange: arrange,
      save: function () { save(); },
      "clear-highlight": function () { state.highlight = null; showHighlight(); },
    };

    root.querySelectorAll("[data-cmd]").forEach(function (button) {
      button.addEventListener("click", function () { commands[button.dataset.cmd](); });
    });

    document.addEventListener("keydown", function (event) {
      var tag = event.target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.target.isContentEditable) return;
      var mod = event.ctrlKey || event.metaKey;
      var key = event.key.toLowerCase();
      var handled = true;
      if (mod && key === "z" && !event.shiftKey) undo();
      else if (mod && (key === "y" || (key === "z" && event.shiftKey))) redo();
      else if (mod && key === "c") copySelection();
      else if (mod && key === "x") { if (copySelection()) removeNodes(state.selection.slice()); }
      else if (mod && key === "v") paste();
      else if (mod && key === "d") { if (copySelection()) paste(); }
      else if (mod && key === "a") select(state.doc.nodes.map(function (n) { return n.id; }));
      else if (mod && key === "s") save();
      else if (key === "delete" || key === "backspace") commands.delete();
      else if (key === "escape") { select([]); hidePopover(); }
      else if (!mod && (key === "+" || key === "=")) view.zoomBy(0.1);
      else if (!mod && key === "-") view.zoomBy(-0.1);
      else if (!mod && key === "0") commands["zoom-reset"]();
      else if (key.indexOf("arrow") === 0) {
        var step = event.shiftKey ? 50 : 10;
        var dx = key === "arrowleft" ? -step : key === "arrowright" ? step : 0;
        var dy = key === "arrowup" ? -step : key === "arrowdown" ? step : 0;
        if (state.selection.length) nudge(dx, dy); else view.panBy(-dx * 2, -dy * 2);
      } else handled = false;
      if (handled) {
        event.preventDefault();
        event.stopPropagation(); // Drawflow must not also delete on its own
      }
    }, true);

    render();
    firstView();
    if (root.dataset.arrangedOnOpen === "yes") setStatus("arranged", MSG.arrangedOnOpen);
    else setStatus("saved", MSG.saved);
    root.dataset.ready = "yes";
  }

  function boot() {
    if (!window.Drawflow) return;
    var root = document.getElementById("flow-editor");
    if (root) startEditor(root);
    else if (document.getElementById("diff-data")) startDiff();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
