// The runs page: lists the tenant's runs and follows each unfinished one live through its
// server-sent events, re-reading that run's view when an event arrives. The session is an
// HttpOnly cookie: this script never sees a key. Everything is inserted as text, never HTML.
(function () {
  "use strict";
  var DATA = "/pages/data/runs";
  var LIST_REFRESH_MS = 10000;
  var list = document.getElementById("runs");
  var note = document.getElementById("note");
  var streams = {};
  var pending = {};

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function live(status) {
    return status === "queued" || status === "running";
  }

  function progress(step) {
    var cell = el("td", null, "progress");
    if (step.calls !== undefined && step.calls !== null) {
      var bar = el("progress");
      bar.max = Math.max(step.calls, 1);
      bar.value = step.calls_done;
      cell.appendChild(bar);
      cell.appendChild(document.createTextNode(" " + step.calls_done + "/" + step.calls + " calls"));
      if (step.calls_failed) cell.appendChild(document.createTextNode(", " + step.calls_failed + " failed"));
    } else if (step.records) {
      cell.textContent = step.records + " records";
    }
    return cell;
  }

  function render(view) {
    var id = "run-" + view.id;
    var section = el("section", null, "run");
    section.id = id;
    section.setAttribute("data-status", view.status);
    var heading = el("h2", view.workflow + " · run " + view.id + " ");
    heading.appendChild(el("span", view.status, "badge"));
    section.appendChild(heading);
    section.appendChild(el("p", "Started " + new Date(view.created_at_ms).toLocaleString() +
      (view.finished_at_ms ? ", ended " + new Date(view.finished_at_ms).toLocaleString() : ""), "note"));
    var table = el("table", null, "steps");
    var head = el("tr");
    ["Step", "Status", "Progress", "Time", "Error"].forEach(function (name) { head.appendChild(el("th", name)); });
    table.appendChild(head);
    view.steps.forEach(function (step) {
      var row = el("tr", null, "step");
      row.setAttribute("data-step", step.id);
      row.setAttribute("data-status", step.status);
      row.appendChild(el("td", step.id));
      var status = el("td", step.status, "status");
      status.setAttribute("data-status", step.status);
      row.appendChild(status);
      row.appendChild(progress(step));
      row.appendChild(el("td", step.elapsed_ms !== undefined ? step.elapsed_ms + " ms" : ""));
      row.appendChild(el("td", step.error || "", "error"));
      table.appendChild(row);
    });
    section.appendChild(table);
    if (view.error) section.appendChild(el("p", view.error, "error run-error"));
    if (view.outputs !== null && view.outputs !== undefined) {
      section.appendChild(el("h3", "Outputs"));
      section.appendChild(el("pre", JSON.stringify(view.outputs, null, 2), "outputs"));
    }
    var old = document.getElementById(id);
    if (old) {
      list.replaceChild(section, old);
    } else {
      // Newest first: a run not shown yet goes above the others with a lower id.
      var before = null;
      for (var i = 0; i < list.children.length; i++) {
        if (Number(list.children[i].id.slice(4)) < view.id) { before = list.children[i]; break; }
      }
      list.insertBefore(section, before);
    }
    follow(view);
  }

  function refresh(id) {
    fetch(DATA + "/" + id, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : Promise.reject(answer.status); })
      .then(render, ended);
  }

  // Many events arrive close together: re-read a run at most every 200 ms.
  function later(id) {
    if (pending[id]) return;
    pending[id] = setTimeout(function () { delete pending[id]; refresh(id); }, 200);
  }

  function follow(view) {
    if (!live(view.status)) {
      if (streams[view.id]) { streams[view.id].close(); delete streams[view.id]; }
      return;
    }
    if (streams[view.id]) return;
    var source = new EventSource(DATA + "/" + view.id + "/events");
    streams[view.id] = source;
    source.onmessage = function (message) {
      var event = {};
      try { event = JSON.parse(message.data); } catch (e) { /* shown by the next read */ }
      if (event.event === "run_finished" || event.event === "run_failed") {
        // The stream ends here; without this the browser would reconnect to it.
        source.close();
        delete streams[view.id];
      }
      later(view.id);
    };
  }

  function ended(status) {
    note.textContent = status === 401
      ? "Your session for this page has ended. Ask for a new link."
      : "The runs could not be read (" + status + "). Reload to try again.";
  }

  function load() {
    fetch(DATA, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : Promise.reject(answer.status); })
      .then(function (views) {
        note.textContent = views.length ? "Updated live." : "No runs yet.";
        views.forEach(render);
        setTimeout(load, LIST_REFRESH_MS);
      }, ended);
  }

  load();
})();
