/* The wall's browser side: its id (for heartbeats), the kiosk playlist and the watchdog that
   says "connection lost since ..." when the server stops answering, instead of freezing. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  wall: {
    /* ?wall=NAME names a wall; otherwise a random id kept in this browser. */
    wallId: function (search, current) {
      var named = new URLSearchParams(search || "").get("wall");
      if (named) { return named.slice(0, 100); }
      if (current) { return current; }
      return "wall-" + Math.random().toString(36).slice(2, 10);
    },
    /* Next page of the playlist; pages outside it restart the playlist. */
    rotate: function (n, pathname, playlist) {
      if (!playlist || playlist.length === 0) { return window.dash_clientside.no_update; }
      var i = playlist.indexOf(pathname || "/");
      return playlist[(i + 1) % playlist.length];
    },
    /* Server answers set server-ok; if none came for 3 refreshes (at least 10 s), say since when. */
    watchdog: function (n, serverOk, labels, search, tickMs) {
      var now = Date.now();
      var trigger = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
      if (trigger.indexOf("server-ok") === 0 || !window.iocLastOk) {
        window.iocLastOk = now;
        window.iocLostSince = null;
        document.body.classList.remove("server-lost");
        return null;
      }
      if (now - window.iocLastOk < Math.max(3 * (tickMs || 5000), 10000)) { return null; }
      if (!window.iocLostSince) { window.iocLostSince = window.iocLastOk; }
      document.body.classList.add("server-lost");
      var lang = new URLSearchParams(search || "").get("lang") === "en" ? "en" : "vi";
      var since = new Intl.DateTimeFormat(lang === "vi" ? "vi-VN" : "en-GB", {
        timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit", second: "2-digit",
        day: "2-digit", month: "2-digit", year: "numeric", hour12: false
      }).format(new Date(window.iocLostSince));
      var text = labels.server_lost[lang].replace("{since}", since);
      return {type: "Div", namespace: "dash_html_components",
              props: {children: text, id: "server-lost", className: "alert alert-danger banner-lost"}};
    },
    /* An expire button was clicked: "silence:nonce" (the same silence twice is two requests;
       a string, as the wall accepts for data). Redrawn buttons (every refresh) call this
       too, with no click. */
    expireRequest: function (clicks) {
      var ctx = window.dash_clientside.callback_context;
      var hit = (ctx.triggered || []).filter(function (t) { return t.value; })[0];
      if (!hit) { return window.dash_clientside.no_update; }
      var id = JSON.parse(hit.prop_id.slice(0, hit.prop_id.lastIndexOf(".")));
      return id.id + ":" + Date.now();
    },
    /* The overview's units map, drawn here rather than as Dash components: Dash's renderer
       runs a selector for every component at every store update, and 166 units (500
       components) cost each refresh over 200 ms of the main thread. `units` (sent with the
       layout): [code, short name, title, left %, top %, classes]; `worst` (each refresh):
       code -> severity of its worst alert. React owns the box, not what is drawn in it. */
    drawUnits: function (units, worst) {
      var box = document.getElementById("units-map");
      if (!box || !units) { return window.dash_clientside.no_update; }
      if (box.iocUnits !== units) {
        box.replaceChildren.apply(box, units.map(function (u) {
          var unit = document.createElement("div");
          var dot = document.createElement("span");
          var name = document.createElement("span");
          dot.className = "unit-dot";
          name.className = "unit-name";
          name.textContent = u[1];
          unit.title = u[2];
          unit.style.left = u[3] + "%";
          unit.style.top = u[4] + "%";
          unit.setAttribute("data-unit", u[0]);
          unit.append(dot, name);
          return unit;
        }));
        box.iocUnits = units;
      }
      units.forEach(function (u, i) {
        var cls = u[5] + " unit-" + ((worst || {})[u[0]] || "ok");
        if (box.children[i].className !== cls) { box.children[i].className = cls; }
      });
      return window.dash_clientside.no_update;
    },
    /* A table described as data (components.py table_data): rows of cells, each cell's
       parts text (textContent: never parsed as HTML), styled text or a line break. */
    drawTable: function (spec) {
      var box = spec && document.getElementById(spec.box);
      if (!box) { return window.dash_clientside.no_update; }
      function rows(tag, list) {
        var group = document.createElement(tag === "th" ? "thead" : "tbody");
        list.forEach(function (r) {
          var tr = document.createElement("tr");
          if (r["class"]) { tr.className = r["class"]; }
          r.cells.forEach(function (c) {
            var td = document.createElement(tag);
            if (c["class"]) { td.className = c["class"]; }
            if (c.title) { td.title = c.title; }
            if (c.span) { td.colSpan = c.span; }
            c.parts.forEach(function (p) {
              if (p.br) { td.appendChild(document.createElement("br")); return; }
              if (!p["class"] && !p.title) { td.appendChild(document.createTextNode(p.text)); return; }
              var span = document.createElement(p["class"] === "small" ? "small" : "span");
              if (p["class"] && p["class"] !== "small") { span.className = p["class"]; }
              if (p.title) { span.title = p.title; }
              span.textContent = p.text;
              td.appendChild(span);
            });
            tr.appendChild(td);
          });
          group.appendChild(tr);
        });
        return group;
      }
      var table = document.createElement("table");
      table.id = spec.id;
      table.className = spec["class"];
      table.append(rows("th", spec.head), rows("td", spec.body));
      box.replaceChildren(table);
      return window.dash_clientside.no_update;
    }
  }
});

/* Lists that must fit their panel (the overview's alerts): show the rows that fit, newest
   first, and say how many active alerts are not shown, instead of a scroll bar nobody at a
   wall can use. The server sends the rows and, last, a line with data-total (active alerts)
   and data-template ("... and {n} more"); this runs again whenever the page changes or the
   screen is resized. Rows are hidden with the `hidden` attribute, which React does not own. */
(function () {
  function fit(list) {
    var rows = Array.prototype.filter.call(list.children, function (c) {
      return c.classList.contains("alert-row");
    });
    var more = list.querySelector(".alert-more");
    rows.forEach(function (r) { r.hidden = false; });
    if (!more) { return; }
    var total = parseInt(more.getAttribute("data-total"), 10) || rows.length;
    var fits = function () { return list.scrollHeight <= list.clientHeight + 1; };
    more.hidden = total <= rows.length && fits();
    var shown = rows.length;
    while (shown > 0 && !fits()) { rows[--shown].hidden = true; more.hidden = false; }
    more.setAttribute("data-more", (more.getAttribute("data-template") || "+{n}")
      .replace("{n}", String(total - shown)));
    // the screen this fit was made for (a resize fits again on the next frame)
    list.setAttribute("data-fitted", window.innerWidth + "x" + window.innerHeight);
  }
  /* Tables that must fit their box (the alerts page, which operators also work from): a
     page of the rows that fit, with a pager ("9–16 of 20", previous, next) the browser turns
     on its own. The box keeps the first row of each page turned to (`starts`), so a refresh
     of the rows every few seconds stays on the page. */
  function fitTable(box) {
    var rows = Array.prototype.slice.call(box.querySelectorAll("tbody > tr"));
    var pager = box.querySelector(".fit-pager");
    if (!pager) { return; }
    var starts = box.iocStarts || [0];
    if (starts[starts.length - 1] >= rows.length) { starts = [0]; }
    box.iocStarts = starts;
    var start = starts[starts.length - 1];
    var fits = function () { return box.scrollHeight <= box.clientHeight + 1; };
    rows.forEach(function (r, i) { r.hidden = i < start; });
    pager.hidden = true;
    var end = rows.length;
    if (start > 0 || !fits()) {
      pager.hidden = false;
      while (end > start + 1 && !fits()) { rows[--end].hidden = true; }
    }
    box.iocNext = end < rows.length ? end : null;
    pager.querySelector(".pager-shown").setAttribute("data-shown",
      (pager.getAttribute("data-template") || "{from}-{to}/{total}")
        .replace("{from}", String(start + 1)).replace("{to}", String(end))
        .replace("{total}", String(rows.length)));
    pager.querySelector(".pager-prev").disabled = start === 0;
    pager.querySelector(".pager-next").disabled = box.iocNext === null;
    box.setAttribute("data-fitted", window.innerWidth + "x" + window.innerHeight);
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".fit-pager button");
    if (!button) { return; }
    var box = button.closest(".fit-table");
    if (button.classList.contains("pager-next") && box.iocNext !== null) {
      box.iocStarts.push(box.iocNext);
    } else if (button.classList.contains("pager-prev") && box.iocStarts.length > 1) {
      box.iocStarts.pop();
    }
    fitTable(box);
  });
  var pending = false;
  // a box also changes size with no change of its own rows (the lines above it wrap, a font
  // arrives, the other table on the page shrinks): fit again then too
  var resized = new ResizeObserver(function () { fitAll(); });
  function fitAll() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      document.querySelectorAll(".fit-list").forEach(fit);
      // boxes sized by their own rows (up to a limit) first, then those taking what is left
      Array.prototype.slice.call(document.querySelectorAll(".fit-table")).sort(function (a, b) {
        return parseFloat(getComputedStyle(a).flexGrow) - parseFloat(getComputedStyle(b).flexGrow);
      }).forEach(fitTable);
      document.querySelectorAll(".fit-list, .fit-table").forEach(function (box) {
        resized.observe(box);
      });
    });
  }
  new MutationObserver(fitAll).observe(document.documentElement,
                                       {childList: true, subtree: true, characterData: true});
  window.addEventListener("resize", fitAll);
})();

/* The document's language follows the view (?lang=en), for screen readers and the browser. */
(function () {
  var lang = new URLSearchParams(window.location.search).get("lang");
  if (lang === "vi" || lang === "en") { document.documentElement.lang = lang; }
})();
