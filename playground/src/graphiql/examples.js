// Every operation of the frontend contract (src/operations.graphql, a
// verbatim copy of contract/operations.graphql) as a ready example: the
// document with the fragments it uses, and variables that make sense now —
// dates 30 days ahead, and the offer, booking and notification ids this
// page last saw in a response, so examples can be run one after another
// (search → price → book → pay → status).
import { contractDocument, contractOperations } from '../common/contract.js';

const GROUPS = [
  ['Sessions', ['StartSession', 'CurrentSession', 'EndSession']],
  ['Chat', ['SendMessage', 'ResetConversation']],
  ['Flights', ['SearchFlights', 'CheapestDates', 'FlightOffer', 'Places']],
  [
    'Booking and payment',
    ['PriceOffer', 'CreateBooking', 'PayForBooking', 'CreatePaymentLink', 'CancelBooking', 'Booking', 'MyBookings'],
  ],
  ['Notifications', ['Notifications', 'MarkNotificationsRead', 'UpdateNotificationPreferences']],
  ['Subscriptions', ['OnNotification', 'OnBookingStatus', 'OnServiceStatus', 'OnSearchProgress']],
  ['Status', ['ServiceStatus']],
];

/** Ids seen in responses, for the examples' variables. */
export const seen = { offerId: null, bookingId: null, notificationId: null };

/** Remembers the ids in a GraphQL response (any operation's). */
export function rememberIds(result) {
  const data = result && result.data;
  if (!data || typeof data !== 'object') return;
  const offers =
    data.searchFlights?.offers ?? data.sendMessage?.offers ?? data.flightSearchProgress?.offers ?? [];
  if (offers.length > 0) seen.offerId = offers[0].id;
  if (data.priceOffer?.offer?.id) seen.offerId = data.priceOffer.offer.id;
  const booking =
    data.createBooking?.booking ?? data.payForBooking?.booking ?? data.booking ?? data.bookings?.[0] ?? null;
  if (booking?.id) seen.bookingId = booking.id;
  const notifications = data.notifications ?? (data.notificationAdded ? [data.notificationAdded] : []);
  if (notifications.length > 0) seen.notificationId = notifications[notifications.length - 1].id;
}

/** `YYYY-MM-DD`, `days` after today in the browser's time zone. */
export function daysAhead(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

const SPANISH_MONTHS = [
  'enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio',
  'julio', 'agosto', 'septiembre', 'octubre', 'noviembre', 'diciembre',
];

function search() {
  return {
    origin: 'MAD',
    destination: 'LON',
    departureDate: daysAhead(30),
    returnDate: daysAhead(37),
    adults: 1,
    cabin: 'ECONOMY',
    currency: 'EUR',
    sort: 'PRICE',
    first: 10,
  };
}

const offerId = () => seen.offerId ?? 'run SearchFlights first: its first offer id goes here';
const bookingId = () => seen.bookingId ?? 'run CreateBooking first: its booking id goes here';

const VARIABLES = {
  StartSession: () => ({
    locale: (navigator.language || 'en').slice(0, 2),
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
  }),
  SendMessage: () => {
    const d = new Date();
    d.setDate(d.getDate() + 30);
    return { text: `Quiero volar de Madrid a Londres el ${d.getDate()} de ${SPANISH_MONTHS[d.getMonth()]}, somos 2` };
  },
  SearchFlights: () => ({ input: search() }),
  CheapestDates: () => ({
    input: { origin: 'LIS', destination: 'PAR', from: daysAhead(30), to: daysAhead(44), adults: 1 },
  }),
  FlightOffer: () => ({ id: offerId() }),
  Places: () => ({ query: 'lond', first: 5 }),
  PriceOffer: () => ({ offerId: offerId() }),
  CreateBooking: () => ({
    input: {
      offerId: offerId(),
      travelers: [{ firstName: 'Ana', lastName: 'Silva', dateOfBirth: '1990-04-12', type: 'ADULT' }],
      contact: { email: 'ana@example.com', phone: '+351912345678' },
    },
  }),
  PayForBooking: () => ({
    input: { bookingId: bookingId(), paymentMethod: 'pm_card_visa', idempotencyKey: crypto.randomUUID() },
  }),
  CreatePaymentLink: () => ({ bookingId: bookingId() }),
  CancelBooking: () => ({ id: bookingId() }),
  Booking: () => ({ id: bookingId() }),
  Notifications: () => ({ first: 20 }),
  MarkNotificationsRead: () => ({ upTo: seen.notificationId ?? 'run Notifications first: the last id goes here' }),
  UpdateNotificationPreferences: () => ({ input: { email: true, sms: false, push: false } }),
  OnBookingStatus: () => ({ bookingId: bookingId() }),
  OnSearchProgress: () => ({ input: search() }),
};

/**
 * The examples, grouped: `[{ title, examples: [{ name, kind, query, variables() }] }]`.
 * `variables()` is a JSON string worked out when the example is opened.
 */
export function contractExamples() {
  const operations = new Map(contractOperations.map((o) => [o.name, o]));
  const listed = new Set(GROUPS.flatMap(([, names]) => names));
  const groups = GROUPS.map(([title, names]) => ({ title, names }));
  // An operation the contract gains later still shows up.
  const rest = [...operations.keys()].filter((name) => !listed.has(name));
  if (rest.length > 0) groups.push({ title: 'More', names: rest });
  return groups.map(({ title, names }) => ({
    title,
    examples: names
      .filter((name) => operations.has(name))
      .map((name) => {
        const variables = VARIABLES[name];
        return {
          name,
          kind: operations.get(name).kind,
          query: `${contractDocument(name)}\n`,
          variables: () => (variables ? JSON.stringify(variables(), null, 2) : ''),
        };
      }),
  }));
}
