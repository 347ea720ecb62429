// "Book" → the travellers form → CreateBooking, with the API's validation
// messages shown at the fields they name (`extensions.field`, e.g.
// `input.travelers.0.dateOfBirth`) → PayForBooking with a sandbox test
// token under an idempotency key → the booking's status, kept live by
// the OnBookingStatus subscription.
import { el, uid } from './dom.js';
import { clock, day, duration, money } from './format.js';

const TEST_CARDS = [
  'pm_card_visa',
  'pm_card_mastercard',
  'pm_card_chargeDeclined',
  'pm_card_chargeDeclinedInsufficientFunds',
  'pm_card_chargeDeclinedExpiredCard',
];

/** The traveller types of a search's passengers, adults first. */
function travellerTypes(passengers) {
  const p = passengers ?? {};
  return [
    ...Array(Math.max(1, p.adults ?? 1)).fill('ADULT'),
    ...Array(p.children ?? 0).fill('CHILD'),
    ...Array(p.infants ?? 0).fill('INFANT'),
  ];
}

export class BookingFlow {
  constructor({ section, body, call, language, words, live, announce }) {
    Object.assign(this, { section, body, call, language, words, live, announce });
    this.offer = null;
    this.booking = null;
    this.attempt = null;
    this.opener = null;
    this.section.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.offer && !this.booking) this.close();
    });
  }

  /** Opens the form for `offer`, for the search's `passengers`. */
  open(offer, passengers, opener) {
    this.offer = offer;
    this.booking = null;
    this.attempt = null;
    this.opener = opener;
    this.types = travellerTypes(passengers);
    this.section.hidden = false;
    this.renderForm();
    this.section.querySelector('input')?.focus();
  }

  close() {
    this.offer = null;
    this.section.hidden = true;
    this.body.replaceChildren();
    this.opener?.focus();
  }

  /** Shows the words of a new language (the form keeps what was typed). */
  relabel() {
    if (this.booking) this.renderBooking();
  }

  // ------------------------------------------------------------ the form

  field(label, name, attributes = {}) {
    const id = uid('field');
    return el(
      'div',
      { class: 'field' },
      el('label', { for: id }, label),
      el('input', { id, name, 'data-field': name, 'aria-describedby': `${id}-error`, ...attributes }),
      el('p', { id: `${id}-error`, class: 'field-error', hidden: true }),
    );
  }

  renderForm() {
    const t = this.words();
    const travellers = this.types.map((type, i) => {
      const at = (name) => `input.travelers.${i}.${name}`;
      return el(
        'fieldset',
        { class: 'traveller', dataset: { type } },
        el('legend', {}, t.traveller(i + 1, t.type[type])),
        this.field(t.firstName, at('firstName'), { required: true, autocomplete: i === 0 ? 'given-name' : 'off' }),
        this.field(t.lastName, at('lastName'), { required: true, autocomplete: i === 0 ? 'family-name' : 'off' }),
        this.field(t.dateOfBirth, at('dateOfBirth'), { type: 'date', required: true, autocomplete: i === 0 ? 'bday' : 'off' }),
        el(
          'details',
          { class: 'document' },
          el('summary', {}, t.passport),
          this.field(t.passportNumber, at('document.number'), { autocomplete: 'off' }),
          this.field(t.expiryDate, at('document.expiryDate'), { type: 'date' }),
          this.field(t.issuingCountry, at('document.issuingCountry'), { maxlength: 2, autocomplete: 'off' }),
          this.field(t.nationality, at('document.nationality'), { maxlength: 2, autocomplete: 'off' }),
        ),
      );
    });
    const errors = el('div', { class: 'form-errors', role: 'alert', tabindex: '-1', hidden: true });
    const submit = el('button', { type: 'submit', class: 'primary' }, t.holdSeats);
    // The API validates: `novalidate` lets its messages, not the browser's, speak.
    const form = el(
      'form',
      { class: 'booking-form', novalidate: true, onsubmit: (event) => this.submit(event, form, errors, submit) },
      this.offerSummary(this.offer),
      errors,
      el('h3', {}, t.travellers),
      travellers,
      el(
        'fieldset',
        { class: 'contact' },
        el('legend', {}, t.contact),
        this.field(t.email, 'input.contact.email', { type: 'email', required: true, autocomplete: 'email' }),
        this.field(t.phone, 'input.contact.phone', { type: 'tel', autocomplete: 'tel' }),
      ),
      el(
        'div',
        { class: 'actions' },
        submit,
        el('button', { type: 'button', class: 'secondary', onclick: () => this.close() }, t.cancel),
      ),
    );
    this.body.replaceChildren(form);
  }

  offerSummary(offer) {
    const t = this.words();
    const locale = this.language();
    return el(
      'div',
      { class: 'offer-summary' },
      el('h3', {}, t.selectedFlight),
      offer.itineraries.map((itinerary) => {
        const first = itinerary.segments[0];
        const last = itinerary.segments[itinerary.segments.length - 1];
        return el(
          'p',
          {},
          `${first.departure.airport.code} ${clock(first.departure.at, first.departure.airport.timeZone, locale)} → `,
          `${last.arrival.airport.code} ${clock(last.arrival.at, last.arrival.airport.timeZone, locale)}`,
          ` · ${day(first.departure.at, first.departure.airport.timeZone, locale)} · ${duration(itinerary.duration)}`,
        );
      }),
      el('p', { class: 'price' }, money(offer.price, locale)),
    );
  }

  values(form) {
    const value = (name) => form.querySelector(`[data-field="${name}"]`)?.value.trim() ?? '';
    const travelers = this.types.map((type, i) => {
      const at = (name) => value(`input.travelers.${i}.${name}`);
      const traveler = { firstName: at('firstName'), lastName: at('lastName'), dateOfBirth: at('dateOfBirth'), type };
      const document = {
        number: at('document.number'),
        expiryDate: at('document.expiryDate'),
        issuingCountry: at('document.issuingCountry').toUpperCase(),
        nationality: at('document.nationality').toUpperCase(),
      };
      if (Object.values(document).some(Boolean)) traveler.document = document;
      return traveler;
    });
    const phone = value('input.contact.phone');
    return { offerId: this.offer.id, travelers, contact: { email: value('input.contact.email'), phone: phone || null } };
  }

  clearErrors(form, errors) {
    errors.hidden = true;
    errors.replaceChildren();
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    for (const message of form.querySelectorAll('.field-error')) {
      message.hidden = true;
      message.textContent = '';
    }
  }

  showErrors(form, errors, list) {
    const t = this.words();
    const items = [];
    let first = null;
    for (const error of list) {
      const field = error.extensions?.field;
      const input = field ? form.querySelector(`[data-field="${field}"]`) : null;
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        const message = document.getElementById(input.getAttribute('aria-describedby'));
        message.textContent = error.message;
        message.hidden = false;
        input.closest('details')?.setAttribute('open', '');
        first ??= input;
        const label = form.querySelector(`label[for="${input.id}"]`)?.textContent ?? field;
        items.push(
          el('li', {}, el('a', { href: `#${input.id}`, onclick: (e) => { e.preventDefault(); input.focus(); } }, `${label}: ${error.message}`)),
        );
      } else {
        items.push(el('li', {}, error.message));
      }
    }
    errors.replaceChildren(el('p', {}, t.checkFields), el('ul', {}, items));
    errors.hidden = false;
    (first ?? errors).focus();
  }

  async submit(event, form, errors, submit) {
    event.preventDefault();
    this.clearErrors(form, errors);
    submit.disabled = true;
    try {
      const data = await this.call('CreateBooking', { input: this.values(form) });
      this.booking = data.createBooking.booking;
      this.live()?.watchBooking(this.booking.id);
      this.renderBooking();
      this.section.querySelector('#booking-title')?.focus();
    } catch (error) {
      this.showErrors(form, errors, error.errors ?? [{ message: this.words().failed(error.message) }]);
    } finally {
      submit.disabled = false;
    }
  }

  // ------------------------------------------------------------ booking and payment

  /** A status change from the subscription or a catch-up query. */
  statusChanged(bookingId, status) {
    if (!this.booking || this.booking.id !== bookingId || this.booking.status === status) return;
    this.booking = { ...this.booking, status };
    this.renderBooking();
    this.announce(`${this.words().bookingStatus}: ${this.words().status[status] ?? status}`);
  }

  /** After a reconnection: the booking as it is now. */
  async refresh() {
    if (!this.booking) return;
    try {
      const data = await this.call('Booking', { id: this.booking.id });
      this.statusChanged(data.booking.id, data.booking.status);
    } catch {
      // The next reconnection tries again.
    }
  }

  renderBooking() {
    const t = this.words();
    const locale = this.language();
    const b = this.booking;
    const status = el(
      'div',
      { class: 'booking-status', role: 'status' },
      el('span', {}, `${t.bookingStatus}: `),
      el('strong', { id: 'booking-status', tabindex: '-1', dataset: { status: b.status } }, t.status[b.status] ?? b.status),
    );
    const details = el(
      'dl',
      { class: 'booking-details' },
      el('dt', {}, t.reference),
      el('dd', { id: 'booking-reference' }, b.reference ?? '—'),
      el('dt', {}, t.total),
      el('dd', {}, money(b.total, locale)),
      el('dt', {}, t.travellers),
      el('dd', {}, b.travelers.map((p) => `${p.firstName} ${p.lastName}`).join(', ')),
    );
    const parts = [status, this.offerSummary(b.offer), details];
    if (b.status === 'PENDING_PAYMENT') parts.push(this.paymentForm());
    this.body.replaceChildren(...parts);
  }

  paymentForm() {
    const t = this.words();
    const locale = this.language();
    const b = this.booking;
    const legendId = uid('cards');
    const choices = TEST_CARDS.map((card, i) => {
      const id = uid('card');
      return el(
        'div',
        { class: 'choice' },
        el('input', { type: 'radio', name: 'payment-method', id, value: card, checked: i === 0 }),
        el('label', { for: id }, `${t.cards[card]} · `, el('code', {}, card)),
      );
    });
    const message = el('p', { class: 'payment-message', role: 'alert', hidden: true });
    const pay = el('button', { type: 'submit', class: 'primary', id: 'pay' }, t.pay(money(b.total, locale)));
    const form = el(
      'form',
      { class: 'payment', onsubmit: (event) => this.pay(event, form, message, pay) },
      el('h3', {}, t.payment),
      b.expiresAt ? el('p', { class: 'muted' }, t.payBefore(clock(b.expiresAt, undefined, locale))) : null,
      el('fieldset', { 'aria-labelledby': legendId }, el('legend', { id: legendId }, t.testCard), choices),
      message,
      pay,
    );
    return form;
  }

  async pay(event, form, message, button) {
    event.preventDefault();
    const t = this.words();
    const method = form.querySelector('input[name="payment-method"]:checked')?.value ?? TEST_CARDS[0];
    // One key per attempt: a retry after a lost answer reuses it, so the
    // card is charged at most once; a new card is a new attempt.
    if (!this.attempt || this.attempt.method !== method) {
      this.attempt = { method, key: crypto.randomUUID() };
    }
    message.hidden = true;
    button.disabled = true;
    button.textContent = t.paying;
    try {
      const data = await this.call('PayForBooking', {
        input: { bookingId: this.booking.id, paymentMethod: method, idempotencyKey: this.attempt.key },
      });
      const { payment, booking } = data.payForBooking;
      this.attempt = null;
      this.booking = booking;
      if (payment.status === 'DECLINED') {
        this.renderBooking();
        const again = this.body.querySelector('.payment-message');
        again.textContent = t.declined(payment.declineCode ?? 'declined');
        again.hidden = false;
        return;
      }
      this.renderBooking();
      this.announce(`${t.bookingStatus}: ${t.status[booking.status] ?? booking.status}`);
      this.section.querySelector('#booking-status')?.focus();
    } catch (error) {
      if (error.code) this.attempt = null; // answered: the key is spent
      message.textContent = t.failed(error.message);
      message.hidden = false;
      button.disabled = false;
      button.textContent = t.pay(money(this.booking.total, this.language()));
    }
  }
}
