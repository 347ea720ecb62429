// The chat demo at /: start a session, talk to the agent in any of its six
// languages, see flight cards from `sendMessage`'s offers, book, pay with a
// sandbox test token, and follow the booking and the notifications live.
import './chat.css';

import { ApiError, createApi } from './api.js';
import { BookingFlow } from './booking.js';
import { el, uid } from './dom.js';
import { calendarDay, clock, day, daysLater, duration, moment, money } from './format.js';
import { LANGUAGES, preferredLanguage, words } from './i18n.js';
import { LiveUpdates } from './live.js';

const TOKEN_KEY = 'wayfarer.session';

const $ = (id) => document.getElementById(id);
const ui = {
  language: $('language'),
  welcome: $('welcome'),
  welcomeError: $('welcome-error'),
  start: $('start-session'),
  newSession: $('new-session'),
  messages: $('messages'),
  announcer: $('announcer'),
  chips: $('chips'),
  composer: $('composer'),
  input: $('composer-input'),
  send: $('send'),
  live: $('live-status'),
  notificationList: $('notification-list'),
  notificationsState: $('notifications-state'),
  unread: $('unread-count'),
  markRead: $('mark-read'),
};

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  language: preferredLanguage(),
  // Set when the traveller picks a language: the page stops following the
  // conversation's.
  languageChosen: false,
  passengers: null,
  liveStatus: 'off',
  notificationsAvailable: true,
  notifications: [],
  live: null,
};

const t = () => words(state.language);
const call = createApi(() => state.token, () => sessionEnded());

const booking = new BookingFlow({
  section: $('booking'),
  body: $('booking-body'),
  call,
  language: () => state.language,
  words: t,
  live: () => state.live,
  announce,
});

// ------------------------------------------------------------ language

function applyLanguage() {
  const w = t();
  document.documentElement.lang = state.language;
  for (const node of document.querySelectorAll('[data-i18n]')) {
    const value = w[node.dataset.i18n];
    if (typeof value === 'string') node.textContent = value;
  }
  ui.input.placeholder = w.placeholder;
  ui.chips.setAttribute('aria-label', w.suggested);
  ui.language.value = state.language;
  for (const who of ui.messages.querySelectorAll('.who')) who.textContent = who.dataset.role === 'USER' ? w.you : w.agent;
  showLiveStatus(state.liveStatus);
  renderNotifications();
  booking.relabel();
}

function useLanguage(language) {
  if (!(language in LANGUAGES) || language === state.language) return;
  state.language = language;
  applyLanguage();
}

// ------------------------------------------------------------ messages

/** Says `text` once in the live region, for screen readers. */
function announce(text) {
  ui.announcer.textContent = '';
  // A fresh text node in a cleared region is announced even when the text repeats.
  requestAnimationFrame(() => {
    ui.announcer.textContent = text;
  });
}

function addMessage(role, text, extra = []) {
  const w = t();
  const item = el(
    'li',
    { class: `message ${role === 'USER' ? 'user' : 'assistant'}` },
    el('p', { class: 'who', dataset: { role } }, role === 'USER' ? w.you : w.agent),
    el('div', { class: 'bubble' }, el('p', {}, text)),
    extra,
  );
  ui.messages.append(item);
  item.scrollIntoView({ block: 'nearest' });
  return item;
}

function renderChips(replies) {
  ui.chips.replaceChildren(
    ...(replies ?? []).map((reply) =>
      el('button', { type: 'button', class: 'chip', onclick: () => send(reply) }, reply),
    ),
  );
}

// ------------------------------------------------------------ flight cards

function carriers(itinerary) {
  return [...new Set(itinerary.segments.map((s) => s.carrier?.name ?? s.carrier?.code))].join(' + ');
}

function leg(itinerary, title, locale) {
  const w = t();
  const first = itinerary.segments[0];
  const last = itinerary.segments[itinerary.segments.length - 1];
  const stops = itinerary.segments.length - 1;
  const via = itinerary.segments.slice(0, -1).map((s) => s.arrival.airport.code).join(', ');
  const later = daysLater(first.departure, last.arrival);
  return el(
    'div',
    { class: 'leg' },
    el('p', { class: 'leg-title' }, `${title} · ${day(first.departure.at, first.departure.airport.timeZone, locale)}`),
    el(
      'p',
      { class: 'times' },
      el('time', { datetime: first.departure.at }, clock(first.departure.at, first.departure.airport.timeZone, locale)),
      ` ${first.departure.airport.code} → `,
      el('time', { datetime: last.arrival.at }, clock(last.arrival.at, last.arrival.airport.timeZone, locale)),
      ` ${last.arrival.airport.code}`,
      later > 0 ? el('span', { class: 'later' }, ` ${w.nextDay(later)}`) : null,
    ),
    el(
      'p',
      { class: 'meta' },
      `${duration(itinerary.duration)} · ${stops === 0 ? w.direct : `${w.stops(stops)} (${w.via(via)})`}`,
      ` · ${itinerary.segments.map((s) => s.flightNumber).join(', ')}`,
    ),
  );
}

function offerCard(offer, passengers) {
  const w = t();
  const locale = state.language;
  const titleId = uid('offer');
  const carrier = carriers(offer.itineraries[0]);
  const price = money(offer.price, locale);
  const book = el(
    'button',
    {
      type: 'button',
      class: 'book primary',
      'aria-label': w.bookOffer(carrier, price),
      onclick: (event) => booking.open(offer, passengers, event.currentTarget),
    },
    w.book,
  );
  return el(
    'li',
    { class: 'offer', dataset: { offerId: offer.id } },
    el(
      'article',
      { 'aria-labelledby': titleId },
      el(
        'header',
        {},
        el('h3', { id: titleId, class: 'carrier' }, carrier),
        el('p', { class: 'price' }, price),
      ),
      (offer.labels ?? []).length > 0
        ? el('ul', { class: 'labels' }, offer.labels.map((l) => el('li', { class: `label ${l.toLowerCase()}` }, w.label[l] ?? l)))
        : null,
      offer.itineraries.map((itinerary, i) => leg(itinerary, i === 0 ? w.outbound : w.inbound, locale)),
      offer.seatsAvailable ? el('p', { class: 'seats' }, w.seatsLeft(offer.seatsAvailable)) : null,
      book,
    ),
  );
}

// Up/Down (and Home/End) move between the cards' Book buttons.
function onOffersKeydown(event) {
  const keys = ['ArrowDown', 'ArrowUp', 'Home', 'End'];
  if (!keys.includes(event.key)) return;
  const buttons = [...event.currentTarget.querySelectorAll('button.book')];
  const at = buttons.indexOf(document.activeElement);
  if (at === -1) return;
  event.preventDefault();
  const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
  buttons[Math.max(0, Math.min(buttons.length - 1, next))].focus();
}

function offersList(offers, passengers) {
  const w = t();
  return el(
    'ol',
    { class: 'offers', 'aria-label': `${w.flights}: ${w.found(offers.length)}`, onkeydown: onOffersKeydown },
    offers.map((offer) => offerCard(offer, passengers)),
  );
}

function cheapestDays(days) {
  const w = t();
  const priced = days.filter((d) => d.price);
  if (priced.length === 0) return null;
  const lowest = Math.min(...priced.map((d) => Number(d.price.amount)));
  return el(
    'div',
    { class: 'calendar' },
    el('p', { class: 'calendar-title' }, w.cheapestDays),
    el(
      'ul',
      {},
      days.map((d) =>
        el(
          'li',
          { class: d.price && Number(d.price.amount) === lowest ? 'cheapest' : '' },
          el('time', { datetime: d.date }, calendarDay(d.date, state.language)),
          el('span', {}, d.price ? money(d.price, state.language) : '—'),
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------ sending

async function send(text) {
  const message = text.trim();
  if (!message || !state.token || ui.send.disabled) return;
  addMessage('USER', message);
  ui.input.value = '';
  ui.send.disabled = true;
  renderChips([]);
  const pending = el('li', { class: 'message assistant pending', 'aria-hidden': 'true' }, el('p', {}, t().thinking));
  ui.messages.append(pending);
  try {
    const data = await call('SendMessage', { text: message });
    pending.remove();
    const response = data.sendMessage;
    if (!state.languageChosen) useLanguage(response.reply.language);
    if (response.understanding?.passengers) state.passengers = response.understanding.passengers;
    const extra = [];
    const offers = response.offers ?? [];
    if (offers.length > 0) extra.push(offersList(offers, state.passengers));
    const calendar = cheapestDays(response.cheapestDates ?? []);
    if (calendar) extra.push(calendar);
    addMessage('ASSISTANT', response.reply.text, extra);
    renderChips(response.suggestedReplies);
    const w = t();
    announce(`${w.agent}: ${response.reply.text}${offers.length > 0 ? ` ${w.found(offers.length)}.` : ''}`);
  } catch (error) {
    pending.remove();
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') return;
    addMessage('ASSISTANT', t().failed(error.message)).classList.add('error');
    announce(t().failed(error.message));
  } finally {
    ui.send.disabled = !state.token;
    ui.input.focus();
  }
}

// ------------------------------------------------------------ notifications

function showLiveStatus(status) {
  state.liveStatus = status;
  ui.live.textContent = state.token ? t().live[status] : '';
  ui.live.dataset.state = status;
}

function renderNotifications() {
  const w = t();
  const unread = state.notifications.filter((n) => !n.read).length;
  ui.notificationsState.textContent = !state.notificationsAvailable
    ? w.notificationsUnavailable
    : state.notifications.length === 0
      ? w.noNotifications
      : '';
  ui.notificationsState.hidden = ui.notificationsState.textContent === '';
  ui.notificationsState.dataset.available = String(state.notificationsAvailable);
  ui.unread.hidden = unread === 0;
  ui.unread.textContent = `${unread} ${w.unread}`;
  ui.markRead.hidden = unread === 0;
  for (const item of ui.notificationList.children) {
    const n = state.notifications.find((x) => x.id === item.dataset.id);
    if (!n) continue;
    item.classList.toggle('unread', !n.read);
    item.querySelector('time').textContent = moment(n.at, state.language);
  }
}

function notificationItem(n) {
  return el(
    'li',
    { class: `notification${n.read ? '' : ' unread'}`, dataset: { id: n.id, kind: n.kind } },
    el('p', { class: 'title' }, n.title),
    el('p', { class: 'body' }, n.body),
    el('time', { datetime: n.at }, moment(n.at, state.language)),
  );
}

function onNotifications(list) {
  for (const n of list) state.notifications.push({ ...n, read: n.read ?? false });
  state.notifications.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  ui.notificationList.replaceChildren(...state.notifications.map(notificationItem));
  renderNotifications();
  for (const n of list) {
    if (n.bookingId && n.kind === 'BOOKING_CONFIRMED') booking.statusChanged(n.bookingId, 'CONFIRMED');
  }
}

async function markAllRead() {
  try {
    await state.live?.markAllRead();
    for (const n of state.notifications) n.read = true;
    renderNotifications();
  } catch (error) {
    ui.notificationsState.hidden = false;
    ui.notificationsState.textContent = t().failed(error.message);
  }
}

function startLive() {
  state.live?.stop();
  state.notifications = [];
  state.notificationsAvailable = true;
  ui.notificationList.replaceChildren();
  state.live = new LiveUpdates({
    token: state.token,
    call,
    onStatus: showLiveStatus,
    onNotifications,
    onBookingStatus: (event) => booking.statusChanged(event.bookingId, event.status),
    onUnavailable: () => {
      state.notificationsAvailable = false;
      renderNotifications();
    },
    onReconnected: () => booking.refresh(),
  });
  renderNotifications();
}

// ------------------------------------------------------------ the session

function enterChat() {
  ui.welcome.hidden = true;
  ui.welcomeError.hidden = true;
  ui.newSession.hidden = false;
  ui.input.disabled = false;
  ui.send.disabled = false;
  startLive();
  ui.input.focus();
}

async function startSession() {
  ui.start.disabled = true;
  try {
    const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const data = await call('StartSession', { locale: state.language, timeZone });
    state.token = data.startSession.token;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    ui.messages.replaceChildren();
    addMessage('ASSISTANT', t().greeting);
    enterChat();
  } catch (error) {
    ui.welcomeError.textContent = t().failed(error.message);
    ui.welcomeError.hidden = false;
  } finally {
    ui.start.disabled = false;
  }
}

/** A reload keeps the session: its conversation comes back from the server. */
async function resumeSession() {
  try {
    const data = await call('CurrentSession');
    const messages = data.session.conversation?.messages ?? [];
    ui.messages.replaceChildren();
    if (messages.length === 0) addMessage('ASSISTANT', t().greeting);
    for (const m of messages) addMessage(m.role, m.text);
    enterChat();
  } catch {
    // sessionEnded() has run for an expired token; anything else leaves the welcome.
  }
}

function leaveChat(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  state.live?.stop();
  state.live = null;
  ui.input.disabled = true;
  ui.send.disabled = true;
  ui.newSession.hidden = true;
  ui.welcome.hidden = false;
  renderChips([]);
  booking.close();
  if (message) {
    ui.welcomeError.textContent = message;
    ui.welcomeError.hidden = false;
  }
  ui.start.focus();
}

function sessionEnded() {
  leaveChat(t().sessionEnded);
}

async function newSession() {
  try {
    await call('EndSession');
  } catch {
    // Ended or expired already: nothing more to end.
  }
  ui.messages.replaceChildren();
  leaveChat(null);
}

// ------------------------------------------------------------ wiring

ui.language.replaceChildren(
  ...Object.entries(LANGUAGES).map(([code, name]) => el('option', { value: code, lang: code }, name)),
);
ui.language.addEventListener('change', () => {
  state.languageChosen = true;
  useLanguage(ui.language.value);
});
ui.start.addEventListener('click', startSession);
ui.newSession.addEventListener('click', newSession);
ui.markRead.addEventListener('click', markAllRead);
ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  send(ui.input.value);
});

applyLanguage();
if (state.token) resumeSession();
