// Natter's page behaviour: a few listeners, no framework. Inline scripts
// and eval are refused by the content security policy, so everything the
// pages do beyond htmx lives here.
(function () {
  'use strict';

  function room() { return document.getElementById('room'); }

  // Mark the viewer's own messages and show times in the viewer's zone.
  function decorate(root) {
    var r = room();
    var me = r && r.dataset.me;
    root.querySelectorAll('.msg').forEach(function (li) {
      if (me && li.dataset.author === me) li.classList.add('mine');
    });
    root.querySelectorAll('time[datetime]').forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) t.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    });
  }

  function scroller() { return document.getElementById('message-scroller'); }

  function nearBottom() {
    var s = scroller();
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  function toBottom() {
    var s = scroller();
    if (s) s.scrollTop = s.scrollHeight;
  }

  function setState(state) {
    var el = document.getElementById('conn-state');
    if (el) { el.dataset.state = state; el.textContent = state; }
  }

  var stick = true;
  document.addEventListener('htmx:wsBeforeMessage', function () { stick = nearBottom(); });
  document.addEventListener('htmx:wsAfterMessage', function () {
    decorate(document);
    if (stick) toBottom();
  });
  document.addEventListener('htmx:wsConnecting', function () {
    var el = document.getElementById('conn-state');
    setState(el && el.dataset.state === 'connecting' ? 'connecting' : 'reconnecting');
  });
  document.addEventListener('htmx:wsOpen', function () { setState('live'); });
  document.addEventListener('htmx:wsClose', function () { setState('reconnecting'); });

  // After a send: clear the box and any earlier error.
  document.addEventListener('htmx:wsAfterSend', function (e) {
    var form = e.target.closest('form');
    if (form) form.reset();
    var err = document.getElementById('message-error');
    if (err) err.textContent = '';
    stick = true;
  });

  // Enter sends, Shift+Enter makes a new line. Empty text is not sent.
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (t.id !== 'f-message' || e.key !== 'Enter' || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    if (t.value.trim() === '') return;
    t.form.requestSubmit();
  });

  // Grow the message box with its text, up to its max height.
  document.addEventListener('input', function (e) {
    if (e.target.id !== 'f-message') return;
    e.target.style.height = 'auto';
    e.target.style.height = e.target.scrollHeight + 'px';
  });

  var adjectives = ['amber', 'brave', 'calm', 'deft', 'eager', 'fuzzy', 'gentle', 'happy', 'icy', 'jolly', 'keen', 'lucky', 'mellow', 'nimble', 'quiet', 'rapid', 'sunny', 'tidy', 'vivid', 'witty'];
  var nouns = ['otter', 'falcon', 'maple', 'comet', 'harbor', 'lantern', 'meadow', 'pebble', 'quartz', 'river', 'summit', 'tundra', 'willow', 'zephyr', 'badger', 'cedar'];
  function pick(list) { return list[Math.floor(Math.random() * list.length)]; }

  document.addEventListener('click', function (e) {
    var btn = e.target.closest('[data-random-name],[data-copy],[data-toggle-members]');
    if (!btn) return;
    if (btn.dataset.randomName) {
      var input = document.getElementById(btn.dataset.randomName);
      input.value = pick(adjectives) + '-' + pick(nouns) + '-' + Math.floor(10 + Math.random() * 90);
      input.focus();
    } else if (btn.dataset.copy) {
      var text = btn.dataset.copy;
      var done = function () {
        var old = btn.textContent;
        btn.textContent = 'Link copied';
        setTimeout(function () { btn.textContent = old; }, 1600);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { window.prompt('Copy this link:', text); });
      } else {
        window.prompt('Copy this link:', text);
      }
    } else {
      var panel = document.getElementById('member-panel');
      var open = panel.classList.toggle('open');
      btn.setAttribute('aria-expanded', open ? 'true' : 'false');
    }
  });

  document.addEventListener('DOMContentLoaded', function () {
    decorate(document);
    toBottom();
  });
})();
