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
    // The member list's actions (one rendering for every viewer) make no
    // sense on one's own entry.
    root.querySelectorAll('.member').forEach(function (li) {
      var acts = li.querySelector('.member-actions');
      if (me && acts && li.dataset.account === me) acts.remove();
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

  function setState(state, text) {
    var el = document.getElementById('conn-state');
    if (el) { el.dataset.state = state; el.textContent = text || state; }
  }

  // The draft in the message box is kept per room in this tab's session
  // storage, so signing in again (or a reload) does not lose it.
  function draftKey() { var r = room(); return r ? 'natter-draft:' + r.dataset.room : null; }
  function saveDraft() {
    var box = document.getElementById('f-message');
    var key = draftKey();
    if (!box || !key) return;
    try {
      if (box.value === '') sessionStorage.removeItem(key); else sessionStorage.setItem(key, box.value);
    } catch (err) { /* storage full or refused: the box still holds the text */ }
  }
  function restoreDraft() {
    var box = document.getElementById('f-message');
    var key = draftKey();
    if (!box || !key || box.value !== '') return;
    var text = null;
    try { text = sessionStorage.getItem(key); } catch (err) { text = null; }
    if (text) { box.value = text; grow(box); }
  }

  // A restart of the server (a new epoch in the snapshot) or the end of the
  // room while the page was away (its numbers start again) would replace
  // the list a person was reading with the new, shorter history. Instead the
  // items on screen stay, without their ids (the new history reuses them),
  // a marker says what happened, and the new history follows.
  var epoch = null; // the server process that sent the last snapshot
  var kept = null;  // {items, text} to put back in front of the new history
  function lastSeq(list) {
    var items = list.querySelectorAll('[data-seq]');
    return items.length ? Number(items[items.length - 1].dataset.seq) : 0;
  }
  document.addEventListener('htmx:wsBeforeMessage', function (e) {
    var frame = (e.detail && e.detail.message) || '';
    if (typeof frame !== 'string' || frame.indexOf('data-epoch=') === -1) return;
    var tpl = document.createElement('template');
    tpl.innerHTML = frame;
    var snap = tpl.content.querySelector('#messages[data-epoch]');
    var list = document.getElementById('messages');
    if (!snap || !list) return;
    var restarted = epoch !== null && snap.dataset.epoch !== epoch;
    var last = lastSeq(list);
    var reset = !restarted && epoch !== null && last > lastSeq(snap);
    epoch = snap.dataset.epoch;
    // Items without a seq are the page's own (kept from before an earlier
    // restart, and markers): every snapshot leaves them in place.
    var items = Array.prototype.slice.call(list.children);
    var cut = (restarted || reset) && items.some(function (li) { return li.hasAttribute('data-seq'); });
    kept = { items: [], marker: null };
    items.forEach(function (li) {
      if (li.hasAttribute('data-seq')) {
        if (!cut) return;
        li.removeAttribute('id');
        li.removeAttribute('data-seq');
        li.querySelectorAll('[id]').forEach(function (el) { el.removeAttribute('id'); });
      }
      kept.items.push(li);
    });
    if (cut) {
      kept.marker = restarted ? 'The server restarted; messages above are only on your screen.'
        : 'This room ended while you were away; messages above are only on your screen.';
    }
  });
  function putBackKept() {
    var list = document.getElementById('messages');
    if (!kept || !list || (kept.items.length === 0 && !kept.marker)) { kept = null; return; }
    var frag = document.createDocumentFragment();
    kept.items.forEach(function (li) { frag.appendChild(li); });
    if (kept.marker) {
      var marker = document.createElement('li');
      marker.className = 'gap-marker';
      marker.setAttribute('role', 'note');
      marker.textContent = kept.marker;
      frag.appendChild(marker);
    }
    list.insertBefore(frag, list.firstChild);
    kept = null;
  }

  // stick: the list follows new messages while the reader is at its end.
  var stick = true;
  document.addEventListener('scroll', function (e) {
    if (e.target.id === 'message-scroller') stick = nearBottom();
  }, true);
  window.addEventListener('resize', function () {
    var box = document.getElementById('f-message');
    if (box) grow(box); // a narrower box wraps the draft onto more lines
    if (stick) toBottom();
  });

  // The text of the last message sent, until the server either shows it
  // (our own message comes back) or refuses it (an error under the box):
  // then the text goes back into the box, so nothing typed is lost.
  var pending = null;
  document.addEventListener('htmx:wsAfterMessage', function (e) {
    putBackKept();
    decorate(document);
    if (stick) toBottom();
    var frame = (e.detail && e.detail.message) || '';
    var r = room();
    if (pending === null || typeof frame !== 'string') return;
    if (frame.indexOf('id="message-error"') !== -1) {
      var box = document.getElementById('f-message');
      if (box && box.value === '') { box.value = pending; grow(box); saveDraft(); }
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

  // htmx-ext-ws reconnects after 1006, 1011, 1012 and 1013 only. Any other
  // close is final: 1008 means the session ended (signed out elsewhere, a
  // password change) or the server put this member out. The page then says
  // so with the server's reason, stops sending, keeps the draft, and offers
  // to sign in again and come back to this room.
  var ended = false;
  document.addEventListener('htmx:wsClose', function (e) {
    var ev = (e.detail && e.detail.event) || {};
    if ([1006, 1011, 1012, 1013].indexOf(ev.code) !== -1) { setState('reconnecting'); return; }
    ended = true;
    saveDraft();
    var policy = ev.code === 1008;
    setState('ended', policy ? 'signed out' : 'disconnected');
    var panel = document.getElementById('session-ended');
    if (!panel) return;
    panel.querySelector('[data-session-reason]').textContent = ev.reason ||
      (policy ? 'Your session has ended.' : 'The server closed the connection.');
    var again = panel.querySelector('a');
    if (!policy) {
      again.textContent = 'Reconnect';
      again.setAttribute('href', location.pathname);
    } else if (/^You were removed from /.test(ev.reason || '')) {
      // Removed from the room: signing in again would not bring them back.
      again.textContent = 'Back to rooms';
      again.setAttribute('href', '/rooms');
    }
    panel.classList.remove('hidden');
  });
  // Once ended, nothing is sent: not over the socket (htmx would queue it
  // for a connection that never comes) and not as a plain form post (which
  // would meet the sign-in wall). The text stays in the box.
  document.addEventListener('htmx:wsConfigSend', function (e) {
    if (ended) e.preventDefault();
  });
  document.addEventListener('submit', function (e) {
    if (ended && e.target.id === 'message-form') {
      e.preventDefault();
      var again = document.querySelector('#session-ended a');
      if (again) again.focus();
    }
  }, true);

  // After a send: clear the box (back to one line) and any earlier error.
  document.addEventListener('htmx:wsAfterSend', function (e) {
    var form = e.target.closest('form');
    var box = document.getElementById('f-message');
    if (box) pending = box.value;
    if (form) form.reset();
    if (box) { grow(box); saveDraft(); }
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
    if (e.target.id === 'f-message') { grow(e.target); saveDraft(); }
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

  // Leaving: with others in the room it just goes to the lobby; the last
  // member is told first that leaving ends the room and its messages (the
  // count is the live one from the header).
  function leaveConfirm() { return document.getElementById('leave-confirm'); }
  document.addEventListener('click', function (e) {
    var leave = e.target.closest('[data-leave]');
    var cancel = e.target.closest('[data-leave-cancel]');
    var panel = leaveConfirm();
    if (!panel || !(leave || cancel)) return;
    e.preventDefault();
    if (cancel) { closeLeave(); return; }
    var count = document.getElementById('member-count');
    if (count && Number(count.dataset.count) > 1) { location.href = '/rooms'; return; }
    var text = document.getElementById('leave-confirm-text');
    text.textContent = text.dataset.lastText;
    panel.classList.remove('hidden');
    panel.focus();
  });
  function closeLeave() {
    var panel = leaveConfirm();
    if (!panel || panel.classList.contains('hidden')) return;
    panel.classList.add('hidden');
    if (location.hash === '#leave-confirm') history.replaceState(null, '', location.pathname + location.search);
    var leave = document.querySelector('[data-leave]');
    if (leave) leave.focus();
  }
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') closeLeave();
  });

  document.addEventListener('DOMContentLoaded', function () {
    decorate(document);
    restoreDraft();
    toBottom();
    // Entering a room puts the cursor in the message box, unless something
    // else (a form error) has the focus. Not on touch screens, where focus
    // would open the keyboard over the messages.
    var box = document.getElementById('f-message');
    if (box && document.activeElement === document.body && !window.matchMedia('(pointer: coarse)').matches) {
      box.focus({ preventScroll: true });
      box.setSelectionRange(box.value.length, box.value.length);
    }
  });
})();
