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

  // stick: the list follows new messages while the reader is at its end.
  var stick = true;
  document.addEventListener('scroll', function (e) {
    if (e.target.id === 'message-scroller') stick = nearBottom();
  }, true);
  window.addEventListener('resize', function () { if (stick) toBottom(); });

  // The text of the last message sent, until the server either shows it
  // (our own message comes back) or refuses it (an error under the box):
  // then the text goes back into the box, so nothing typed is lost.
  var pending = null;
  document.addEventListener('htmx:wsAfterMessage', function (e) {
    decorate(document);
    if (stick) toBottom();
    var frame = (e.detail && e.detail.message) || '';
    var r = room();
    if (pending === null || typeof frame !== 'string') return;
    if (frame.indexOf('id="message-error"') !== -1) {
      var box = document.getElementById('f-message');
      if (box && box.value === '') { box.value = pending; grow(box); }
      pending = null;
    } else if (r && frame.indexOf('data-author="' + r.dataset.me + '"') !== -1) {
      pending = null;
    }
  });
  document.addEventListener('htmx:wsConnecting', function () {
    var el = document.getElementById('conn-state');
    setState(el && el.dataset.state === 'connecting' ? 'connecting' : 'reconnecting');
  });
  document.addEventListener('htmx:wsOpen', function () { setState('live'); });
  document.addEventListener('htmx:wsClose', function () { setState('reconnecting'); });

  // After a send: clear the box (back to one line) and any earlier error.
  document.addEventListener('htmx:wsAfterSend', function (e) {
    var form = e.target.closest('form');
    var box = document.getElementById('f-message');
    if (box) pending = box.value;
    if (form) form.reset();
    if (box) grow(box);
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

  // Grow the message box with its text, up to its max height (CSSOM
  // writes are allowed by the content security policy; style attributes in
  // the markup are not).
  function grow(box) {
    box.style.height = 'auto';
    if (box.value !== '') box.style.height = box.scrollHeight + 'px';
  }
  document.addEventListener('input', function (e) {
    if (e.target.id === 'f-message') grow(e.target);
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
      copy(btn, btn.dataset.copy);
    } else {
      toggleMembers();
    }
  });

  // Copy a link, saying so on the button for a moment. Without the
  // clipboard API (plain http on a LAN address) a hidden text area and
  // execCommand do it; if both fail the button says where the link is.
  function copy(btn, text) {
    var label = btn.dataset.label || btn.textContent;
    btn.dataset.label = label;
    var say = function (msg) {
      btn.textContent = msg;
      clearTimeout(btn._copyTimer);
      btn._copyTimer = setTimeout(function () { btn.textContent = label; }, 2000);
    };
    var fallback = function () {
      var ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.className = 'fixed -left-[9999px] top-0';
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
      ta.remove();
      btn.focus();
      say(ok ? 'Link copied' : 'Copy the address bar');
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say('Link copied'); }, fallback);
    } else {
      fallback();
    }
  }

  // The member drawer on phones: the Members button opens it; its Close
  // button, Escape or a click outside close it.
  function toggleMembers(force) {
    var panel = document.getElementById('member-panel');
    if (!panel) return;
    var open = panel.classList.toggle('open', force);
    document.querySelectorAll('[data-toggle-members][aria-expanded]').forEach(function (b) {
      b.setAttribute('aria-expanded', open ? 'true' : 'false');
    });
    if (open) {
      var close = panel.querySelector('[data-toggle-members]');
      if (close) close.focus();
    }
  }
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') return;
    var panel = document.getElementById('member-panel');
    if (panel && panel.classList.contains('open')) {
      toggleMembers(false);
      var opener = document.querySelector('[data-toggle-members][aria-expanded]');
      if (opener) opener.focus();
    }
  });
  document.addEventListener('click', function (e) {
    var panel = document.getElementById('member-panel');
    if (panel && panel.classList.contains('open') && !panel.contains(e.target) && !e.target.closest('[data-toggle-members]')) {
      toggleMembers(false);
    }
  });

  document.addEventListener('DOMContentLoaded', function () {
    decorate(document);
    toBottom();
  });
})();
