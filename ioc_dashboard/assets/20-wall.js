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
    }
  }
});
