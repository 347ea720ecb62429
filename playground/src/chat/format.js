// How the chat shows what the API sends: money from decimal strings, times
// in the time zone of the airport they happen at (an RFC 3339 instant plus
// the airport's IANA zone), ISO 8601 durations, and stops.

/** `€342.20` for `{ amount: "342.20", currency: "EUR" }`, in `locale`. */
export function money(price, locale) {
  if (!price) return '';
  // The amount is a decimal string; display rounding to the currency's
  // digits is all a float may do here.
  return new Intl.NumberFormat(locale, { style: 'currency', currency: price.currency }).format(Number(price.amount));
}

/** `09:40` at `at` in `timeZone`. */
export function clock(at, timeZone, locale) {
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', timeZone: timeZone || 'UTC' }).format(
    new Date(at),
  );
}

/** `Sat, 4 Jan` for the day of `at` in `timeZone`. */
export function day(at, timeZone, locale) {
  return new Intl.DateTimeFormat(locale, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    timeZone: timeZone || 'UTC',
  }).format(new Date(at));
}

/** The calendar date (`2026-01-04`) of `at` in `timeZone`. */
function localDate(at, timeZone) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: timeZone || 'UTC' }).format(new Date(at));
}

/** Days between the local departure and arrival dates (0 the same day). */
export function daysLater(departure, arrival) {
  const from = Date.parse(localDate(departure.at, departure.airport?.timeZone));
  const to = Date.parse(localDate(arrival.at, arrival.airport?.timeZone));
  return Math.round((to - from) / 86_400_000);
}

/** `2 h 25 min` for `PT2H25M` (and `P1DT2H` as `26 h`). */
export function duration(iso) {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:[\d.]+S)?)?$/.exec(iso ?? '');
  if (!match) return iso ?? '';
  const hours = Number(match[1] ?? 0) * 24 + Number(match[2] ?? 0);
  const minutes = Number(match[3] ?? 0);
  if (hours === 0) return `${minutes} min`;
  return minutes === 0 ? `${hours} h` : `${hours} h ${minutes} min`;
}

/** `Thu 20 Dec` for a `YYYY-MM-DD` date. */
export function calendarDay(date, locale) {
  return new Intl.DateTimeFormat(locale, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' }).format(
    new Date(`${date}T00:00:00Z`),
  );
}

/** `14:05` (or a date and time when not today) for an instant, in the browser's zone. */
export function moment(at, locale) {
  const date = new Date(at);
  const sameDay = date.toDateString() === new Date().toDateString();
  return new Intl.DateTimeFormat(locale, sameDay ? { timeStyle: 'short' } : { dateStyle: 'medium', timeStyle: 'short' })
    .format(date);
}
