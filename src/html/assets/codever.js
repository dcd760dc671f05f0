// codever's pages: unified/split toggle (remembered in localStorage), unchanged lines expanded in
// place, files folded and loaded on demand, next/previous file keys, picking two versions or runs
// to compare. Text from the store is only ever moved between nodes, never parsed as HTML; the
// one exception is a lazily fetched file, which is markup codever's own server rendered.
(function () {
  "use strict";
  if (window.__codever) { window.__codever.scan(); return; }
  var KEY = "codever.view";
  var STEP = 20;
  function saved() { try { return localStorage.getItem(KEY); } catch (e) { return null; } }
  function save(v) { try { localStorage.setItem(KEY, v); } catch (e) { /* private mode */ } }

  function cell(tag, cls, n) {
    var td = document.createElement(tag || "td");
    if (cls) td.className = cls;
    if (n) td.setAttribute("data-n", n);
    return td;
  }

  // Appends rows to a table body a chunk per frame when there are many, so that a file of
  // thousands of lines shows its first rows at once and the page stays responsive.
  var CHUNK = 500;
  function appendRows(body, rows, done) {
    var i = 0;
    function next() {
      var frag = document.createDocumentFragment();
      var end = Math.min(rows.length, i + (i === 0 ? 200 : CHUNK));
      for (; i < end; i++) frag.appendChild(rows[i]);
      body.appendChild(frag);
      if (i < rows.length) requestAnimationFrame(next);
      else if (done) done();
    }
    if (rows.length <= CHUNK * 2) {
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) { frag.appendChild(r); });
      body.appendChild(frag);
      if (done) done();
    } else next();
  }

  // The split table of one file, made from its unified table.
  function buildSplit(u) {
    var s = document.createElement("table");
    s.className = "cdv-t cdv-s";
    var cols = document.createElement("colgroup");
    ["cdv-cn", "", "cdv-cn", ""].forEach(function (c) {
      var col = document.createElement("col");
      if (c) col.className = c;
      cols.appendChild(col);
    });
    s.appendChild(cols);
    var body = document.createElement("tbody");
    s.appendChild(body);
    var rows = u.tBodies[0].rows;
    var out = [];
    var dels = [], adds = [];
    function flush() {
      var n = Math.max(dels.length, adds.length);
      for (var i = 0; i < n; i++) {
        var tr = document.createElement("tr");
        tr.className = "cdv-l";
        [[dels[i], "cdv-d", 0], [adds[i], "cdv-a", 1]].forEach(function (side) {
          var r = side[0];
          if (r) {
            var num = cell("td", "cdv-n " + side[1], r.cells[side[2]].getAttribute("data-n"));
            var code = r.cells[2].cloneNode(true);
            code.classList.add(side[1]);
            tr.appendChild(num); tr.appendChild(code);
          } else {
            tr.appendChild(cell("td", "cdv-n cdv-e")); tr.appendChild(cell("td", "cdv-code cdv-e"));
          }
        });
        out.push(tr);
      }
      dels = []; adds = [];
    }
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (r.classList.contains("cdv-d")) { if (adds.length) flush(); dels.push(r); continue; }
      if (r.classList.contains("cdv-a")) { adds.push(r); continue; }
      flush();
      var c = r.cloneNode(true);
      if (r.classList.contains("cdv-h")) {
        c.cells[0].colSpan = 1; c.cells[1].colSpan = 3;
      } else {
        var code = r.cells[2];
        c.insertBefore(code.cloneNode(true), c.cells[1]);
      }
      out.push(c);
    }
    flush();
    return { table: s, body: body, rows: out };
  }

  function splitOf(file) { return file.querySelector("table.cdv-s"); }
  function unifiedOf(file) { return file.querySelector("table.cdv-u"); }

  function ensureSplit(file) {
    var u = unifiedOf(file);
    if (!u || u.getAttribute("data-loading")) return;
    var old = splitOf(file);
    var s = buildSplit(u);
    if (old) old.replaceWith(s.table); else u.after(s.table);
    s.table.setAttribute("data-loading", "1");
    appendRows(s.body, s.rows, function () { s.table.removeAttribute("data-loading"); });
  }

  // Puts a file's table (markup from a template or the server) in place of `el`, its rows
  // added a chunk per frame.
  function placeTable(el, frag, file) {
    var t = frag.querySelector("table.cdv-u");
    if (!t) { el.replaceWith(frag); return; }
    var body = t.tBodies[0];
    var rows = Array.prototype.slice.call(body.children);
    rows.forEach(function (r) { r.remove(); });
    t.setAttribute("data-loading", "1");
    el.replaceWith(frag);
    appendRows(body, rows, function () {
      t.removeAttribute("data-loading");
      if (rootOf(file).getAttribute("data-view") === "split") ensureSplit(file);
    });
  }

  function setMode(root, mode) {
    root.setAttribute("data-view", mode);
    root.querySelectorAll(".cdv-mode").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-mode") === mode));
    });
    if (mode === "split") root.querySelectorAll(".cdv-file").forEach(ensureSplit);
  }

  function fileOf(el) { return el.closest(".cdv-file"); }
  function rootOf(el) { return el.closest(".cdv"); }

  // A fetched fragment's text; a refusal becomes an error carrying the server's one-line reason
  // (e.g. "this compare changed since the page was loaded …: reload the page").
  function answer(r) {
    if (r.ok) return r.text();
    return r.text().then(function (t) { throw new Error(t.trim() || (r.status + " " + r.statusText)); });
  }

  function expand(btn) {
    var file = fileOf(btn);
    var gap = btn.closest("tr").getAttribute("data-gap");
    var u = unifiedOf(file);
    var head = u.querySelector('tr.cdv-h[data-gap="' + gap + '"]');
    var tpl = file.querySelector('template.cdv-g[data-gap="' + gap + '"]');
    if (!head) return;
    if (!tpl) {
      // Served pages leave the unchanged lines on the server: fetch this gap's, then expand.
      var src = u.getAttribute("data-gaps");
      if (!src || btn.getAttribute("data-loading")) return;
      btn.setAttribute("data-loading", "1");
      fetch(src + "&gap=" + encodeURIComponent(gap), { credentials: "same-origin" })
        .then(answer)
        .then(function (text) {
          var t = document.createElement("template");
          t.innerHTML = text; // a template.cdv-g rendered (and escaped) by codever's server
          var got = t.content.querySelector("template.cdv-g");
          if (!got) throw new Error("no lines");
          file.appendChild(got);
          btn.removeAttribute("data-loading");
          expand(btn);
        })
        .catch(function (e) {
          btn.title = "Could not load: " + e.message;
          btn.removeAttribute("data-loading");
          // Said where the reader looks: the row's hunk-header cell (text, never markup).
          var hh = btn.closest("tr").querySelector(".cdv-hh");
          if (hh) hh.textContent = "Could not load: " + e.message;
        });
      return;
    }
    var hidden = tpl.content.children;
    var dir = btn.getAttribute("data-dir");
    var n = dir === "all" ? hidden.length : Math.min(STEP, hidden.length);
    var moved = [];
    if (dir === "up") {
      for (var i = 0; i < n; i++) moved.unshift(hidden[hidden.length - 1 - i]);
      var at = head.nextSibling;
      moved.forEach(function (r) { head.parentNode.insertBefore(r, at); });
    } else if (dir === "down") {
      for (var j = 0; j < n; j++) moved.push(hidden[j]);
      moved.forEach(function (r) { head.parentNode.insertBefore(r, head); });
    } else {
      var all = Array.prototype.slice.call(hidden);
      all.forEach(function (r) { head.parentNode.insertBefore(r, head); });
    }
    var left = tpl.content.children.length;
    var box = head.querySelector(".cdv-xb");
    if (left === 0) {
      box.textContent = "";
      if (head.classList.contains("cdv-tail")) head.remove();
    } else {
      var a = box.querySelector('[data-dir="all"]');
      if (a) { a.textContent = "\u2195 " + left; a.title = "Show " + left + (left === 1 ? " hidden line" : " hidden lines"); }
    }
    if (rootOf(file).getAttribute("data-view") === "split") ensureSplit(file);
  }

  function load(btn) {
    var fb = btn.closest(".cdv-fb");
    var lazy = btn.closest(".cdv-lazy");
    if (lazy) {
      if (lazy.getAttribute("data-loading")) return;
      lazy.setAttribute("data-loading", "1");
      btn.textContent = "Loading\u2026";
      fetch(lazy.getAttribute("data-src"), { credentials: "same-origin" })
        .then(answer)
        .then(function (text) {
          var t = document.createElement("template");
          t.innerHTML = text; // markup rendered (and escaped) by codever's server
          placeTable(lazy, t.content, fileOf(fb));
        })
        .catch(function (e) { btn.textContent = "Could not load: " + e.message; lazy.removeAttribute("data-loading"); });
      return;
    }
    var tpl = fb.querySelector("template.cdv-defer");
    if (!tpl) return;
    btn.remove();
    placeTable(tpl, tpl.content, fileOf(fb));
  }

  function files() { return Array.prototype.slice.call(document.querySelectorAll(".cdv-file")); }

  function focusFile(f) {
    if (!f) return;
    files().forEach(function (x) { x.classList.remove("cdv-current"); });
    f.classList.add("cdv-current");
    f.classList.remove("cdv-folded");
    f.scrollIntoView({ block: "start" });
  }

  function step(delta) {
    var all = files();
    if (!all.length) return;
    var cur = all.findIndex(function (f) { return f.classList.contains("cdv-current"); });
    if (cur < 0) {
      cur = all.findIndex(function (f) { return f.getBoundingClientRect().bottom > 0; });
      if (cur < 0) cur = 0;
      if (delta < 0 || all[cur].getBoundingClientRect().top > 0) delta = delta > 0 ? 0 : delta;
    }
    focusFile(all[Math.max(0, Math.min(all.length - 1, cur + delta))]);
  }

  function fromHash() {
    var h = location.hash.slice(1);
    if (!h) return;
    var path;
    try { path = decodeURIComponent(h); } catch (e) { return; }
    var hit = files().find(function (f) { return f.getAttribute("data-path") === path; });
    if (hit) focusFile(hit);
  }

  function pick(box) {
    var picker = box.closest(".cdv-picker");
    var order = (picker.getAttribute("data-order") || "").split("\n").filter(Boolean);
    var spec = box.getAttribute("data-spec");
    order = order.filter(function (s) { return s !== spec; });
    if (box.checked) order.push(spec);
    while (order.length > 2) {
      var drop = order.shift();
      picker.querySelectorAll("input.cdv-pick").forEach(function (b) {
        if (b.getAttribute("data-spec") === drop) b.checked = false;
      });
    }
    picker.setAttribute("data-order", order.join("\n"));
    picker.querySelectorAll("input.cdv-pick").forEach(function (b) {
      b.closest("tr").classList.toggle("cdv-picked", b.checked);
    });
    var go = picker.querySelector(".cdv-go");
    if (go) go.disabled = order.length !== 2;
  }

  function go(btn) {
    var picker = btn.closest(".cdv-picker");
    var picked = [];
    // Oldest first, whatever order they were clicked in: versions are listed oldest first,
    // runs newest first (data-newest-first).
    picker.querySelectorAll("input.cdv-pick").forEach(function (b) {
      if (b.checked) picked.push(b.getAttribute("data-spec"));
    });
    if (picked.length !== 2) return;
    if (picker.hasAttribute("data-newest-first")) picked.reverse();
    location.href = picker.getAttribute("data-base") + encodeURIComponent(picked[0]) + "..." + encodeURIComponent(picked[1]);
  }

  // The ticks a browser restores when it comes back to a page (the back button) and the
  // Compare button agree: at most the last two, and the button enabled only for two.
  function syncPickers() {
    document.querySelectorAll(".cdv-picker").forEach(function (picker) {
      var order = (picker.getAttribute("data-order") || "").split("\n").filter(Boolean);
      picker.querySelectorAll("input.cdv-pick").forEach(function (b) {
        var spec = b.getAttribute("data-spec");
        var i = order.indexOf(spec);
        if (b.checked && i < 0) order.push(spec);
        if (!b.checked && i >= 0) order.splice(i, 1);
      });
      picker.setAttribute("data-order", order.join("\n"));
      var one = picker.querySelector("input.cdv-pick:checked");
      if (one) pick(one);
      else { var g = picker.querySelector(".cdv-go"); if (g) g.disabled = true; }
    });
  }

  function onClick(e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var b = t.closest("button, input.cdv-pick");
    if (!b) return;
    if (b.classList.contains("cdv-mode")) { var m = b.getAttribute("data-mode"); save(m); document.querySelectorAll(".cdv").forEach(function (r) { setMode(r, m); }); }
    else if (b.classList.contains("cdv-x")) expand(b);
    else if (b.classList.contains("cdv-fold")) fileOf(b).classList.toggle("cdv-folded");
    else if (b.classList.contains("cdv-load")) load(b);
    else if (b.classList.contains("cdv-pick")) pick(b);
    else if (b.classList.contains("cdv-go")) go(b);
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (e.key === "j" || e.key === "n") step(1);
    else if (e.key === "k" || e.key === "p") step(-1);
  }

  var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (en) {
      if (en.isIntersecting) { observer.unobserve(en.target); var b = en.target.querySelector(".cdv-load"); if (b) load(b); }
    });
  }, { rootMargin: "800px" }) : null;

  function scan() {
    document.querySelectorAll(".cdv:not([data-ready])").forEach(function (root) {
      root.setAttribute("data-ready", "1");
      setMode(root, saved() === "split" ? "split" : "unified");
      // Files past the first ones load when they come near the screen; large ones on a click.
      if (observer) root.querySelectorAll(".cdv-lazy:not([data-large])").forEach(function (l) { observer.observe(l); });
    });
  }

  window.__codever = { scan: scan };
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", fromHash);
  window.addEventListener("pageshow", syncPickers);
  scan();
  fromHash();
})();
