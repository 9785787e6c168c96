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
      // A tab stop per message: focusing it shows its actions (CSS), the
      // next Tab goes into them.
      if (!li.hasAttribute('tabindex')) li.tabIndex = 0;
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
    decorateTeam(root);
  }

  function scroller() { return document.getElementById('message-scroller'); }

  function nearBottom() {
    var s = scroller();
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  function toBottom() {
    var s = scroller();
    if (s) { s.scrollTop = s.scrollHeight; layout = layoutOf(s); }
  }
  // layout: the list's sizes at the last scroll we account for. A scroll
  // event with other sizes comes from a layout change (a resize, a box
  // that grew), not from the reader, and keeps the list at its end.
  var layout = '';
  function layoutOf(s) { return s.clientWidth + 'x' + s.clientHeight + ':' + s.scrollHeight; }

  // setState shows the connection's state; why, when the server said
  // (the reason of a close), on hover.
  function setState(state, text, why) {
    var el = document.getElementById('conn-state');
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text || state;
    if (why) el.title = why; else el.removeAttribute('title');
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
  // With several nodes a room moves to another node (a new epoch) with its
  // history: a snapshot that goes on from what is on screen (continues)
  // is a catch-up, not a restart.
  var epoch = null; // the server process that sent the last snapshot
  var cutNow = false; // the last snapshot cut the list: its numbers start again
  var lastCloseReason = ''; // why the server closed the last socket
  var kept = null;  // {items, text} to put back in front of the new history
  function lastSeq(list) {
    var items = list.querySelectorAll('[data-seq]');
    return items.length ? Number(items[items.length - 1].dataset.seq) : 0;
  }
  // continues reports whether snapshot snap holds the history on screen in
  // list: the last entry on screen is in it, and every entry in both is
  // the same one (the same author and time, or the same notice), with at
  // least one that shows it (a time or a notice; a grouped message has no
  // time). A history made anew (its numbers reused) fails on the times.
  function continues(list, snap) {
    var items = list.querySelectorAll(':scope > li[data-seq]');
    if (items.length === 0) return false;
    var last = items[items.length - 1];
    if (!snap.querySelector(':scope > li[data-seq="' + last.dataset.seq + '"]')) return false;
    var shown = 0;
    for (var i = 0; i < items.length; i++) {
      var mine = items[i];
      var other = snap.querySelector(':scope > li[data-seq="' + mine.dataset.seq + '"]');
      if (!other || other.hasAttribute('data-deleted') || mine.hasAttribute('data-deleted')) continue;
      if (mine.dataset.author !== other.dataset.author) return false;
      if (mine.classList.contains('notice') || other.classList.contains('notice')) {
        if (mine.textContent.trim() !== other.textContent.trim()) return false;
        shown++;
        continue;
      }
      var t1 = mine.querySelector('time[datetime]');
      var t2 = other.querySelector('time[datetime]');
      if (t1 && t2) {
        if (t1.getAttribute('datetime') !== t2.getAttribute('datetime')) return false;
        shown++;
      }
    }
    return shown > 0;
  }
  document.addEventListener('htmx:wsBeforeMessage', function (e) {
    var frame = (e.detail && e.detail.message) || '';
    if (typeof frame !== 'string' || frame.indexOf('data-epoch=') === -1) return;
    var tpl = document.createElement('template');
    tpl.innerHTML = frame;
    var snap = tpl.content.querySelector('#messages[data-epoch]');
    var list = document.getElementById('messages');
    if (!snap || !list) return;
    // A snapshot that does not go on from the list cuts it: from another
    // process, a restart; from the same one, a room made anew (it ended
    // while the page was away, or the broker that kept its history lost
    // it), whose numbers start again, even if as many as the list's.
    var differs = epoch !== null && !continues(list, snap);
    var restarted = differs && snap.dataset.epoch !== epoch;
    epoch = snap.dataset.epoch;
    // Items without a seq are the page's own (kept from before an earlier
    // restart, and markers): every snapshot leaves them in place.
    var items = Array.prototype.slice.call(list.children);
    var cut = differs && items.some(function (li) { return li.hasAttribute('data-seq'); });
    cutNow = cut;
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
      // With several nodes, a room made anew right after the servers said
      // they were reconnecting lost its history with the broker's memory.
      kept.marker = restarted ? 'The server restarted; messages above are only on your screen.'
        : /other server/.test(lastCloseReason) ? 'The room’s history was lost while the servers reconnected; messages above are only on your screen.'
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
    if (e.target.id !== 'message-scroller') return;
    if (stick && layoutOf(e.target) !== layout) { toBottom(); return; }
    stick = nearBottom();
    layout = layoutOf(e.target);
  }, true);
  window.addEventListener('resize', function () {
    var box = document.getElementById('f-message');
    if (box) grow(box); // a narrower box wraps the draft onto more lines
    if (stick) toBottom();
  });
  // The list's own box shrinks as the message box grows, a notice shows
  // or the screen turns, and the list grows (an edit form opens): the end
  // stays in view for a reader who was there.
  if (window.ResizeObserver && scroller()) {
    var follow = new ResizeObserver(function () { if (stick) toBottom(); });
    follow.observe(scroller());
    if (document.getElementById('messages')) follow.observe(document.getElementById('messages'));
  }

  // The text of the last message sent, until the server either shows it
  // (our own message comes back) or refuses it (an error under the box):
  // then the text goes back into the box, so nothing typed is lost.
  var pending = null;
  // joined: the room's snapshot came on this socket, so the room took the
  // page in and the header says live. Until then, and from a close on, a
  // post is not sent (htmx-ext-ws would queue it for a socket that may be
  // refused, and it would be lost, or sent twice when Enter was pressed
  // twice); the text stays in the box.
  var joined = false;
  // unconfirmed: a post put back in the box that the room may have after
  // all: one on its way when the socket closed, or one refused as not
  // stored (with several nodes, a broker that came back late may store it
  // after the refusal). The next snapshot shows whether the room has it.
  var unconfirmed = null;
  var sentAfter = 0; // the last seq on screen when the last post was sent
  var note = null;   // the page's own note under the box, cleared once live
  var notJoinedText = 'Not sent: reconnecting to the room. Your message stays in the box; send it again in a moment.';
  function showNote(text, calm) { note = text; showError(text, calm); }
  // putBack returns text to the message box, in front of anything typed
  // since.
  function putBack(text) {
    var box = messageBox();
    if (!box || text === '' || box.value === text) return;
    box.value = box.value === '' ? text : text + '\n' + box.value;
    grow(box);
    saveDraft();
  }
  document.addEventListener('htmx:wsAfterMessage', function (e) {
    putBackKept();
    decorate(document);
    var frame = (e.detail && e.detail.message) || '';
    var snapshot = typeof frame === 'string' && frame.indexOf('data-epoch=') !== -1;
    countNew(snapshot);
    if (stick) toBottom();
    if (snapshot) {
      joined = true;
      setState('live');
      showLinkedMessage();
      settleUnconfirmed();
    }
    var r = room();
    if (pending === null || typeof frame !== 'string') return;
    if (frame.indexOf('id="message-error"') !== -1) {
      putBack(pending);
      unconfirmed = { text: pending, after: sentAfter, note: null };
      pending = null;
    } else if (r && frame.indexOf('data-author="' + r.dataset.me + '"') !== -1) {
      pending = null;
    }
  });
  // settleUnconfirmed, on a snapshot: a message of mine newer than the
  // list had when the post was sent, with its text, means the room has the
  // post after all, so it leaves the box (unless changed since) and the
  // page says so; else it stays. After a close, any newer message of mine
  // counts (a formatted text reads differently on screen) unless the
  // numbers started again, and the note says that it was not sent when
  // the room does not have it.
  function settleUnconfirmed() {
    if (note === notJoinedText) { showError(''); note = null; }
    if (!unconfirmed) return;
    var u = unconfirmed;
    unconfirmed = null;
    var stored = Array.prototype.some.call(document.querySelectorAll('#messages > li.msg[data-seq]'), function (li) {
      if ((!cutNow && Number(li.dataset.seq) <= u.after) || li.dataset.author !== me()) return false;
      var text = li.querySelector('.msg-text');
      return (u.note !== null && !cutNow) || (text && text.innerText.trim() === u.text.trim());
    });
    var box = messageBox();
    if (stored) {
      if (box && box.value === u.text) { box.value = ''; grow(box); saveDraft(); }
      showNote('Your message reached the room after all; it is no longer in the box.', true);
    } else if (u.note !== null && note === u.note) {
      showNote('Not sent: the connection dropped before the room had it. Your message is back in the box; send it again.');
    }
  }
  document.addEventListener('htmx:wsConnecting', function () {
    var el = document.getElementById('conn-state');
    if (el && el.dataset.state === 'connecting') setState('connecting');
    else setState('reconnecting', '', el && el.title);
  });
  document.addEventListener('htmx:wsClose', function (e) {
    joined = false;
    lastCloseReason = ((e.detail && e.detail.event) || {}).reason || '';
    if (pending === null) return;
    unconfirmed = { text: pending, after: sentAfter, note: 'The connection dropped before your message was confirmed; it is back in the box.' };
    pending = null;
    putBack(unconfirmed.text);
    showNote(unconfirmed.note);
  });

  // htmx-ext-ws reconnects after 1006, 1011, 1012 and 1013 only. Any other
  // close is final: 1008 means the session ended (signed out elsewhere, a
  // password change) or the server put this member out. The page then says
  // so with the server's reason, stops sending, keeps the draft, and offers
  // to sign in again and come back to this room.
  var ended = false;
  document.addEventListener('htmx:wsClose', function (e) {
    var ev = (e.detail && e.detail.event) || {};
    if ([1006, 1011, 1012, 1013].indexOf(ev.code) !== -1) { setState('reconnecting', '', ev.reason); return; }
    ended = true;
    saveDraft();
    var policy = ev.code === 1008;
    // Put out of the room, or the room is gone (a private room ends with
    // its server): the session is fine, and signing in again would not
    // bring the room back.
    var removed = policy && /^You were removed from /.test(ev.reason || '');
    var gone = policy && ev.reason === 'This room no longer exists.';
    setState('ended', removed ? 'removed' : gone ? 'room ended' : policy ? 'signed out' : 'disconnected');
    var panel = document.getElementById('session-ended');
    if (!panel) return;
    panel.querySelector('[data-session-reason]').textContent = ev.reason ||
      (policy ? 'Your session has ended.' : 'The server closed the connection.');
    var again = panel.querySelector('a');
    if (!policy) {
      again.textContent = 'Reconnect';
      again.setAttribute('href', location.pathname);
    } else if (removed || gone) {
      again.textContent = 'Back to rooms';
      again.setAttribute('href', '/rooms');
    }
    panel.classList.remove('hidden');
  });
  // Once ended, or until the room's snapshot came (joined), nothing is
  // sent: not over the socket (htmx would queue it for a connection that
  // never comes, or one the server refuses) and not as a plain form post
  // (which would meet the sign-in wall). The text stays in the box, with a
  // note while not joined.
  document.addEventListener('htmx:wsConfigSend', function (e) {
    if (ended || !joined) e.preventDefault();
  });
  document.addEventListener('submit', function (e) {
    if (e.target.id !== 'message-form') return;
    if (ended) {
      e.preventDefault();
      var again = document.querySelector('#session-ended a');
      if (again) again.focus();
    } else if (!joined) {
      e.preventDefault();
      showNote(notJoinedText);
    }
  }, true);

  // After a send: clear the box (back to one line) and any earlier error.
  document.addEventListener('htmx:wsAfterSend', function (e) {
    var form = e.target.closest('#message-form');
    if (!form) return;
    lastTyping = 0; // the message ends the typing; the next keystroke says so again
    var box = document.getElementById('f-message');
    if (box) pending = box.value;
    var list = document.getElementById('messages');
    sentAfter = list ? lastSeq(list) : 0;
    unconfirmed = null;
    if (form) form.reset();
    if (box) { grow(box); saveDraft(); }
    showError('');
    note = null;
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

  // ---- Mentions, unread count, alerts, edit, delete, reactions, typing ----
  // Frames are the same bytes for every member; everything here that
  // differs per viewer comes from #room's data-me and the data attributes
  // in the messages.

  function me() { var r = room(); return (r && r.dataset.me) || ''; }
  function isHidden() { return document.visibilityState === 'hidden'; }
  function messageBox() { return document.getElementById('f-message'); }

  // The socket, from htmx-ext-ws's events, for frames that are not a form:
  // the typing signal and the reaction picker's choice.
  var socket = null;
  var live = false;
  document.addEventListener('htmx:wsOpen', function (e) { socket = e.detail && e.detail.socketWrapper; live = true; });
  document.addEventListener('htmx:wsClose', function () { live = false; });
  function sendFrame(obj) {
    if (!socket || !live || ended) return false;
    socket.send(JSON.stringify(obj));
    return true;
  }

  // showError puts a refusal under the message box, as the server's do.
  // showNote's calm notes (good news) are not red.
  function showError(text, calm) {
    var err = document.getElementById('message-error');
    if (!err) return;
    err.textContent = text;
    ['text-red-600', 'dark:text-red-400'].forEach(function (c) { err.classList.toggle(c, !calm); });
    ['text-emerald-800', 'dark:text-emerald-100'].forEach(function (c) { err.classList.toggle(c, !!calm); });
  }

  // Per-viewer marks: mentions of me (span and message), my reactions.
  function decorateTeam(root) {
    var id = me();
    if (!id) return;
    root.querySelectorAll('.mention[data-mention]').forEach(function (m) {
      var mine = m.dataset.mention === id;
      m.classList.toggle('mention-me', mine);
      var li = m.closest('.msg');
      if (li && mine) li.classList.add('mention-me');
    });
    root.querySelectorAll('.reactions [data-reactors]').forEach(function (chip) {
      var mine = chip.dataset.reactors.split(',').indexOf(id) !== -1;
      chip.classList.toggle('reacted', mine);
      chip.setAttribute('aria-pressed', mine ? 'true' : 'false');
    });
  }

  // ---- Settings: notify of mentions, sound; remembered in this browser.
  var settingKeys = { notify: 'natter-notify-mentions', sound: 'natter-mention-sound' };
  function setting(name) {
    try { return localStorage.getItem(settingKeys[name]) === '1'; } catch (err) { return false; }
  }
  function remember(name, on) {
    try { localStorage.setItem(settingKeys[name], on ? '1' : '0'); } catch (err) { /* private mode: for this page only */ }
  }
  function settingNote(text) {
    var note = document.getElementById('alerts-note');
    if (note) note.textContent = text;
  }
  function canNotify() { return 'Notification' in window && Notification.permission === 'granted'; }
  function initSettings() {
    var panel = document.getElementById('alerts');
    if (!panel) return;
    panel.classList.remove('hidden'); // the settings need this script
    var notify = document.getElementById('f-notify');
    var sound = document.getElementById('f-sound');
    if (notify) notify.checked = setting('notify') && canNotify();
    if (sound) sound.checked = setting('sound');
  }
  var blockedText = 'Notifications are blocked for this site: allow them in the browser’s site settings, then tick the box again.';
  document.addEventListener('change', function (e) {
    var box = e.target;
    if (!box.dataset || !box.dataset.setting) return;
    var name = box.dataset.setting;
    settingNote('');
    if (name === 'notify' && box.checked) {
      // The permission is asked here, on the click, never on load.
      if (!('Notification' in window)) {
        box.checked = false;
        settingNote('This browser cannot show notifications.');
        return;
      }
      if (Notification.permission === 'granted') { remember('notify', true); return; }
      if (Notification.permission === 'denied') { box.checked = false; settingNote(blockedText); return; }
      Notification.requestPermission().then(function (answer) {
        var ok = answer === 'granted';
        box.checked = ok;
        remember('notify', ok);
        if (!ok) settingNote(blockedText);
      });
      return;
    }
    remember(name, box.checked);
    if (name === 'sound' && box.checked) chime(); // a preview, and the click lets audio play later
  });

  // chime is a short two-note sound made with WebAudio (no file to fetch).
  // Browsers let a page play sound only after a click or key on it, so the
  // audio context is made on the first one.
  var audio = null;
  function audioContext() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!audio && AC) {
      try { audio = new AC(); } catch (err) { audio = null; }
    }
    if (audio && audio.state === 'suspended') audio.resume();
    return audio;
  }
  ['pointerdown', 'keydown'].forEach(function (type) {
    document.addEventListener(type, function () { if (setting('sound')) audioContext(); }, { once: true, capture: true });
  });
  function chime() {
    var ctx = audioContext();
    if (!ctx) return;
    var t = ctx.currentTime;
    [880, 1318.5].forEach(function (freq, i) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      var at = t + i * 0.11;
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.12, at + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.18);
    });
  }

  // ---- Unread while the tab is hidden: title count, "New" divider, alerts.
  var baseTitle = document.title;
  var unread = 0;
  var unreadMention = false;
  var wantDivider = false; // the next new message while hidden gets the divider
  var seenSeq = 0;         // the highest seq this page has accounted for
  function showTitle() {
    document.title = unread ? '(' + unread + ') ' + (unreadMention ? '@ ' : '') + baseTitle : baseTitle;
  }
  document.addEventListener('visibilitychange', function () {
    if (isHidden()) { wantDivider = true; return; }
    unread = 0;
    unreadMention = false;
    wantDivider = false;
    showTitle();
  });
  function authorOf(li) {
    var a = li.querySelector('.msg-author') || li.querySelector('.msg-author-sr');
    return a ? a.textContent.trim().replace(/:$/, '') : 'Someone';
  }
  function roomName() { return baseTitle.replace(/ · Natter$/, ''); }
  function notifyMention(li) {
    if (setting('sound')) chime();
    if (!setting('notify') || !canNotify()) return;
    var text = li.querySelector('.msg-text');
    try {
      var n = new Notification(authorOf(li) + ' mentioned you in ' + roomName(), {
        body: text ? text.innerText.slice(0, 160) : '',
        tag: 'natter-' + (room() ? room().dataset.room : '') + '-' + li.dataset.seq
      });
      n.onclick = function () { window.focus(); li.scrollIntoView({ block: 'center' }); n.close(); };
    } catch (err) { /* some browsers allow notifications only from a service worker */ }
  }
  function putDivider(li) {
    document.querySelectorAll('#messages .new-divider').forEach(function (d) { d.remove(); });
    var d = document.createElement('li');
    d.className = 'new-divider';
    d.setAttribute('role', 'separator');
    d.dataset.testid = 'new-divider';
    d.textContent = 'New';
    li.parentNode.insertBefore(d, li);
  }
  // countNew looks at the messages the last frame added (a seq above any
  // seen before). A snapshot only moves the mark: it is a catch-up, and
  // after a restart its numbers start again.
  function countNew(snapshot) {
    var list = document.getElementById('messages');
    if (!list) return;
    if (snapshot) { seenSeq = lastSeq(list); return; }
    var id = me();
    list.querySelectorAll(':scope > li[data-seq]').forEach(function (li) {
      var seq = Number(li.dataset.seq);
      if (seq <= seenSeq) return;
      seenSeq = seq;
      if (!li.classList.contains('msg') || li.dataset.author === id) return;
      var mentioned = li.classList.contains('mention-me');
      if (!isHidden()) return;
      unread++;
      if (mentioned) unreadMention = true;
      if (wantDivider) { putDivider(li); wantDivider = false; }
      if (mentioned) notifyMention(li);
      showTitle();
    });
  }

  // A link to one message (a mention notice's /rooms/{slug}#msg-12) shows
  // that message, marked, once the history is on screen; the list then
  // stays where it is rather than following new messages.
  var linkedShown = false;
  function showLinkedMessage() {
    if (linkedShown || !/^#msg-\d+$/.test(location.hash)) return;
    var li = document.getElementById(location.hash.slice(1));
    if (!li) return;
    linkedShown = true;
    document.querySelectorAll('#messages .linked').forEach(function (el) { el.classList.remove('linked'); });
    li.classList.add('linked');
    li.scrollIntoView({ block: 'center' });
    stick = nearBottom();
  }

  // ---- Mention autocomplete: @ in the box offers the room's members.
  // The box keeps its native textbox role (ARIA in HTML allows no other
  // role on a textarea); it carries the combobox pattern's states
  // (aria-expanded, aria-controls, aria-activedescendant) for the listbox.
  var picker = { open: false, start: 0, names: [], active: 0 };
  function mentionList() { return document.getElementById('mention-list'); }
  function memberNames() {
    var id = me();
    var seen = {};
    return Array.prototype.slice.call(document.querySelectorAll('#members [data-member]'))
      .filter(function (li) { return li.dataset.account !== id; })
      .map(function (li) { return li.dataset.member; })
      .filter(function (n) { if (seen[n]) return false; seen[n] = true; return true; })
      .sort(function (a, b) { return a.toLowerCase() < b.toLowerCase() ? -1 : 1; });
  }
  // mentionAt finds an @name being typed just before the cursor.
  function mentionAt(box) {
    if (box.selectionStart !== box.selectionEnd) return null;
    var before = box.value.slice(0, box.selectionStart);
    var m = /(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{0,32})$/.exec(before);
    return m ? { start: before.length - m[2].length - 1, query: m[2].toLowerCase() } : null;
  }
  function closeMentions() {
    var list = mentionList();
    var box = messageBox();
    picker.open = false;
    if (list) { list.classList.add('hidden'); list.textContent = ''; }
    if (box) { box.setAttribute('aria-expanded', 'false'); box.removeAttribute('aria-activedescendant'); }
  }
  function renderMentions() {
    var list = mentionList();
    var box = messageBox();
    list.textContent = '';
    picker.names.forEach(function (name, i) {
      var opt = document.createElement('li');
      opt.id = 'mention-opt-' + i;
      opt.setAttribute('role', 'option');
      opt.setAttribute('aria-selected', i === picker.active ? 'true' : 'false');
      opt.dataset.name = name;
      opt.className = 'mention-option';
      // The member's badge from the member list, then the name.
      var member = document.querySelector('#members [data-member="' + CSS.escape(name) + '"] .author-mark');
      if (member) opt.appendChild(member.cloneNode(true));
      opt.appendChild(document.createTextNode('@' + name));
      list.appendChild(opt);
    });
    list.classList.remove('hidden');
    box.setAttribute('aria-expanded', 'true');
    box.setAttribute('aria-activedescendant', 'mention-opt-' + picker.active);
    var status = document.getElementById('mention-status');
    if (status) status.textContent = picker.names.length + (picker.names.length === 1 ? ' member' : ' members') + ': use the arrow keys, Enter to choose';
  }
  function updateMentions(box) {
    var at = mentionAt(box);
    if (!at || !mentionList()) { closeMentions(); return; }
    var names = memberNames().filter(function (n) { return n.toLowerCase().indexOf(at.query) === 0; }).slice(0, 8);
    if (names.length === 0) { closeMentions(); return; }
    var keep = picker.open ? picker.names[picker.active] : null;
    picker.open = true;
    picker.start = at.start;
    picker.names = names;
    picker.active = Math.max(0, names.indexOf(keep));
    renderMentions();
  }
  function chooseMention(name) {
    var box = messageBox();
    var end = box.selectionStart;
    var insert = '@' + name + ' ';
    box.value = box.value.slice(0, picker.start) + insert + box.value.slice(end);
    var pos = picker.start + insert.length;
    box.setSelectionRange(pos, pos);
    closeMentions();
    grow(box);
    saveDraft();
    box.focus();
  }
  // Runs in the capture phase, before the Enter-sends listener.
  document.addEventListener('keydown', function (e) {
    if (e.target.id !== 'f-message' || !picker.open || e.isComposing) return;
    var n = picker.names.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      picker.active = (picker.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      renderMentions();
    } else if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
      chooseMention(picker.names[picker.active]);
    } else if (e.key === 'Escape') {
      closeMentions();
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  }, true);
  document.addEventListener('mousedown', function (e) {
    var opt = e.target.closest('#mention-list [data-name]');
    if (!opt) return;
    e.preventDefault(); // keep the focus in the box
    chooseMention(opt.dataset.name);
  });
  document.addEventListener('focusout', function (e) {
    if (e.target.id === 'f-message') closeMentions();
  });

  // ---- Typing: at most one signal per 2 s, never for an empty box. The
  // server says who is typing (#typing); the page holds no list of its own.
  var typingInterval = 2000;
  var lastTyping = 0;
  function signalTyping(box) {
    if (box.value.trim() === '') return;
    var now = Date.now();
    if (now - lastTyping < typingInterval) return;
    if (sendFrame({ typing: '1' })) lastTyping = now;
  }
  document.addEventListener('input', function (e) {
    if (e.target.id !== 'f-message') return;
    updateMentions(e.target);
    signalTyping(e.target);
  });
  document.addEventListener('click', function (e) {
    if (e.target.id === 'f-message') updateMentions(e.target);
  });

  // ---- Message actions on touch screens: a long press shows them (hover
  // and keyboard focus show them by CSS).
  var pressTimer = null;
  document.addEventListener('touchstart', function (e) {
    var li = e.target.closest && e.target.closest('#messages .msg');
    clearTimeout(pressTimer);
    if (!li || e.target.closest('.msg-actions, .reactions, a, button, form')) {
      if (!e.target.closest('.msg-actions')) closeActions(null);
      return;
    }
    pressTimer = setTimeout(function () { closeActions(li); li.classList.add('actions-open'); }, 450);
  }, { passive: true });
  ['touchend', 'touchmove', 'touchcancel'].forEach(function (type) {
    document.addEventListener(type, function () { clearTimeout(pressTimer); }, { passive: true });
  });
  function closeActions(except) {
    document.querySelectorAll('#messages .actions-open').forEach(function (li) {
      if (li !== except) li.classList.remove('actions-open');
    });
  }
  document.addEventListener('contextmenu', function (e) {
    // The long press that opened the actions is not also a text menu.
    if (e.target.closest && e.target.closest('.msg.actions-open .bubble')) e.preventDefault();
  });

  // ---- Edit in place: the server's form (GET .../edit, fragment) replaces
  // the text until it is saved or cancelled.
  function startEdit(li) {
    if (!li) return;
    var open = li.querySelector('.edit-form');
    if (open) { open.querySelector('textarea').focus(); return; }
    var link = li.querySelector('[data-action="edit"]');
    if (!link) return;
    var href = link.getAttribute('href') || link.getAttribute('hx-get');
    closeActions(null);
    fetch(href, { headers: { 'HX-Request': 'true' }, credentials: 'same-origin' }).then(function (res) {
      if (res.status === 403) throw new Error('You can edit only your own messages.');
      if (res.status === 404) throw new Error('That message is no longer in the room.');
      if (!res.ok) throw new Error('The message could not be opened for editing; try again.');
      return res.text();
    }).then(function (html) {
      var form = fragmentForm(html);
      if (!form || !li.isConnected) return;
      var text = li.querySelector('.msg-text');
      if (text) text.classList.add('hidden');
      li.classList.add('editing');
      var hint = document.createElement('p');
      hint.className = 'edit-hint';
      hint.textContent = 'Enter saves · Shift+Enter for a new line · Escape cancels';
      form.appendChild(hint);
      (text || li.lastElementChild).after(form);
      htmx.process(form);
      var ta = form.querySelector('textarea');
      if (ta) { grow(ta); ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); }
    }).catch(function (err) { showError(err.message); });
  }
  function fragmentForm(html) {
    var tpl = document.createElement('template');
    tpl.innerHTML = html;
    return tpl.content.querySelector('form.edit-form');
  }
  function endEdit(form, refocus) {
    var li = form.closest('.msg');
    form.remove();
    if (li) {
      li.classList.remove('editing');
      var text = li.querySelector('.msg-text');
      if (text) text.classList.remove('hidden');
    }
    var box = messageBox();
    if (refocus && box) box.focus();
  }
  document.addEventListener('click', function (e) {
    var edit = e.target.closest('#messages [data-action="edit"]');
    var cancel = e.target.closest('.edit-form [data-edit-cancel]');
    if (!edit && !cancel) return;
    e.preventDefault();
    e.stopPropagation(); // htmx's own handler on the link does not fetch it again
    if (edit) startEdit(edit.closest('.msg'));
    else endEdit(cancel.closest('.edit-form'), true);
  }, true);
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (e.isComposing) return;
    if (t.closest && t.closest('.edit-form') && t.tagName === 'TEXTAREA') {
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); endEdit(t.closest('.edit-form'), true); }
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        if (t.value.trim() !== '') t.form.requestSubmit();
      }
      return;
    }
    // Up arrow in the empty box edits my last message.
    if (t.id === 'f-message' && e.key === 'ArrowUp' && t.value === '' && !picker.open) {
      var mine = document.querySelectorAll('#messages .msg.mine');
      for (var i = mine.length - 1; i >= 0; i--) {
        if (mine[i].querySelector('[data-action="edit"]')) {
          e.preventDefault();
          startEdit(mine[i]);
          return;
        }
      }
    }
  }, true);
  document.addEventListener('input', function (e) {
    if (e.target.closest && e.target.closest('.edit-form') && e.target.tagName === 'TEXTAREA') grow(e.target);
  });
  // The save's answer: 204 and the socket brings the new text; a refusal
  // shows the server's form again with its error, or says why.
  document.addEventListener('htmx:afterRequest', function (e) {
    var form = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest('.edit-form');
    if (!form) return;
    var xhr = e.detail.xhr;
    if (e.detail.successful) {
      // The socket's new text may have replaced the message (and the
      // focused form) already.
      if (form.isConnected) endEdit(form, true);
      else if (messageBox() && document.activeElement === document.body) messageBox().focus();
      return;
    }
    var again = xhr && fragmentForm(xhr.responseText || '');
    if (again && form.isConnected) {
      form.replaceWith(again);
      htmx.process(again);
      var ta = again.querySelector('textarea');
      if (ta) { grow(ta); ta.focus(); }
      return;
    }
    showError(xhr && xhr.status === 403 ? 'You can edit only your own messages.'
      : xhr && xhr.status === 404 ? 'That message is no longer in the room.'
      : 'The edit was not saved; try again.');
  });

  // ---- Delete: asked in the page's own dialog (not the browser's confirm).
  var pendingDelete = null;
  function askDelete(li, go) {
    var dialog = document.getElementById('delete-confirm');
    if (!dialog || !dialog.showModal) { go(); return; }
    var quote = dialog.querySelector('[data-delete-quote]');
    var text = li && li.querySelector('.msg-text');
    if (quote) quote.textContent = text ? text.innerText.slice(0, 200) : '';
    pendingDelete = go;
    dialog.showModal();
    var cancel = dialog.querySelector('[data-delete-cancel]');
    if (cancel) cancel.focus();
  }
  document.addEventListener('htmx:confirm', function (e) {
    var el = e.detail.elt;
    if (!el.closest || !el.closest('[data-action="delete"]')) return;
    e.preventDefault();
    askDelete(el.closest('.msg'), function () { e.detail.issueRequest(true); });
  });
  // A delete form without htmx (the page's own history may post plainly).
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.matches('form[data-action="delete"]') || form.hasAttribute('hx-post') || form.dataset.confirmed) return;
    e.preventDefault();
    askDelete(form.closest('.msg'), function () { form.dataset.confirmed = '1'; form.requestSubmit(); });
  });
  document.addEventListener('click', function (e) {
    var dialog = document.getElementById('delete-confirm');
    if (!dialog || !dialog.open) return;
    if (e.target.closest('[data-delete-go]')) {
      var go = pendingDelete;
      pendingDelete = null;
      dialog.close();
      if (go) go();
      var box = messageBox();
      if (box) box.focus();
    } else if (e.target.closest('[data-delete-cancel]') || e.target === dialog) {
      pendingDelete = null;
      dialog.close();
    }
  });

  // ---- Reactions: a quick set and any emoji, sent over the socket.
  var reactFor = null; // the message the picker is open for
  function reactPicker() { return document.getElementById('react-picker'); }
  function openReactPicker(opener) {
    var p = reactPicker();
    var li = opener.closest('.msg');
    if (!p || !li) return;
    reactFor = { seq: li.dataset.seq, opener: opener };
    // The message keeps its actions shown while the picker is open for it.
    closeActions(li);
    li.classList.add('actions-open');
    p.classList.remove('hidden');
    placeReactPicker();
    var field = p.querySelector('input');
    if (field) field.value = '';
    var first = p.querySelector('[data-react-emoji]');
    if (first) first.focus();
  }
  // placeReactPicker puts the picker above its React button (below it
  // when there is no room above), inside the window.
  function placeReactPicker() {
    var p = reactPicker();
    if (!p || !reactFor || p.classList.contains('hidden')) return;
    var r = reactFor.opener.getBoundingClientRect();
    var w = p.offsetWidth;
    var h = p.offsetHeight;
    var left = Math.min(Math.max(8, r.right - w), window.innerWidth - w - 8);
    var top = r.top - h - 6 < 8 ? r.bottom + 6 : r.top - h - 6;
    p.style.left = left + 'px';
    p.style.top = top + 'px';
  }
  window.addEventListener('resize', placeReactPicker);
  function closeReactPicker(refocus) {
    var p = reactPicker();
    if (!p || p.classList.contains('hidden')) return;
    p.classList.add('hidden');
    closeActions(null);
    if (refocus && reactFor && reactFor.opener.isConnected) reactFor.opener.focus();
    reactFor = null;
  }
  function react(emoji) {
    if (!reactFor || emoji === '') return;
    if (!sendFrame({ react: reactFor.seq, emoji: emoji })) showError('Not connected: the reaction was not sent.');
    closeReactPicker(true);
  }
  document.addEventListener('click', function (e) {
    // The React of a message (a details whose quick set is the no-picker
    // fallback, or a button) opens this page's one picker instead.
    var opener = e.target.closest('#messages [data-action="react"] > summary, #messages button[data-action="react"]');
    if (opener) {
      e.preventDefault();
      e.stopPropagation();
      if (reactFor && reactFor.opener === opener) closeReactPicker(true); else openReactPicker(opener);
      return;
    }
    var quick = e.target.closest('#react-picker [data-react-emoji]');
    if (quick) { react(quick.dataset.reactEmoji); return; }
    if (!e.target.closest('#react-picker')) closeReactPicker(false);
  }, true);
  document.addEventListener('submit', function (e) {
    if (e.target.id !== 'react-any') return;
    e.preventDefault();
    var field = e.target.querySelector('input');
    var emoji = field.value.trim();
    if (emoji === '') { field.focus(); return; }
    react(emoji);
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && e.target.closest && e.target.closest('#react-picker')) {
      e.stopPropagation();
      closeReactPicker(true);
    }
  }, true);

  document.addEventListener('DOMContentLoaded', function () {
    decorate(document);
    restoreDraft();
    initSettings();
    var list = document.getElementById('messages');
    if (list) seenSeq = lastSeq(list);
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
