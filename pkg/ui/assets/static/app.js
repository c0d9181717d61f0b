// Keeps the page live: a server-sent "change" fetches the page again and
// swaps in its live parts ([data-live] by id); filters the objects as one
// types. Without this script the pages still work, by reloading.
(function () {
  'use strict';
  var connection = document.getElementById('connection');
  var fetching = false, again = false;

  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(location.href, { headers: { 'X-Gitsync-Fragment': '1' }, credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status + ' ' + r.statusText);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        // A part that did not change stays the node it was, so an update
        // does not take the button under the pointer or the focus.
        doc.querySelectorAll('[data-live]').forEach(function (fresh) {
          var old = document.getElementById(fresh.id);
          if (old && !old.isEqualNode(fresh)) old.replaceWith(document.adoptNode(fresh));
        });
        filter();
        document.dispatchEvent(new CustomEvent('gitsync:updated'));
      })
      .catch(function (e) { connection.textContent = 'Update failed: ' + e.message; })
      .finally(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  // Only pages with live parts follow the stream: the pending changes are
  // a dry run, made again only when asked for.
  if (window.EventSource && document.querySelector('[data-live]')) {
    var source = new EventSource('/ui/events');
    source.addEventListener('change', refresh);
    source.onopen = function () {
      if (connection.textContent) { connection.textContent = ''; refresh(); }
    };
    source.onerror = function () {
      connection.textContent = 'Connection to gitsync lost; reconnecting…';
    };
  }

  var q = document.getElementById('q'), status = document.getElementById('status');
  function filter() {
    if (!q || !status) return;
    var text = q.value.trim().toLowerCase(), want = status.value.toLowerCase(), shown = 0;
    document.querySelectorAll('table.objects tbody[data-kind]').forEach(function (body) {
      var kind = body.dataset.kind;
      body.querySelectorAll('tr[data-status]').forEach(function (row) {
        var cells = row.cells;
        var name = (kind + ' ' + cells[0].textContent + '/' + cells[1].textContent).toLowerCase();
        var ok = (!want || row.dataset.status.toLowerCase() === want) && (!text || name.indexOf(text) >= 0);
        row.hidden = !ok;
        if (ok) shown++;
      });
    });
    var counter = document.getElementById('shown');
    if (counter) counter.textContent = shown;
  }
  if (q && status) {
    q.addEventListener('input', filter);
    status.addEventListener('change', filter);
    q.form.addEventListener('submit', function (e) { e.preventDefault(); filter(); });
  }
})();
