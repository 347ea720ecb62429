-- Bookings, their travellers, payments, refunds, idempotency keys and the
-- payment webhook events seen. Amounts are TEXT decimal strings ("342.20")
-- next to an ISO 4217 currency: exact, and free of any per-currency minor
-- unit table. Statuses are TEXT with CHECKs; saga steps are TEXT without one,
-- so a later step needs no table rebuild on SQLite.

CREATE TABLE bookings (
    id                   TEXT PRIMARY KEY,
    session_id           TEXT NOT NULL,
    status               TEXT NOT NULL
        CHECK (status IN ('PENDING_PAYMENT', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'FAILED')),
    -- The saga's recovery point: written before each external call, replaced after its outcome.
    step                 TEXT NOT NULL,
    offer_id             TEXT NOT NULL,
    provider             TEXT NOT NULL,
    -- The provider's offer JSON, verbatim: confirm and cancel calls send it back.
    provider_offer       TEXT NOT NULL,
    -- The normalised offer (without provider_offer), so the booking still shows after the offer expired.
    offer_snapshot       TEXT NOT NULL,
    total_amount         TEXT NOT NULL,
    currency             TEXT NOT NULL,
    provider_order_id    TEXT,
    reference            TEXT,
    contact_email        TEXT NOT NULL,
    contact_phone        TEXT,
    language             TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    expires_at           BIGINT NOT NULL,
    expiring_notified_at BIGINT,
    -- A sweeper's lease: whoever holds an unexpired one works on the row alone.
    claimed_by           TEXT,
    claimed_until        BIGINT,
    -- Bumped by every change, for optimistic checks and debugging.
    version              BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX bookings_session ON bookings (session_id, created_at);
CREATE INDEX bookings_due ON bookings (status, step, expires_at);
CREATE INDEX bookings_in_flight ON bookings (step, updated_at);
CREATE UNIQUE INDEX bookings_provider_order ON bookings (provider, provider_order_id)
    WHERE provider_order_id IS NOT NULL;

-- Document numbers are not stored: the provider needs them once, when the
-- order is created, and keeping passport numbers would make this database a
-- target for nothing the service uses later. Expiry, issuing country and
-- nationality stay, to show and re-check what the traveller flies on.
CREATE TABLE travelers (
    booking_id               TEXT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    position                 BIGINT NOT NULL,
    first_name               TEXT NOT NULL,
    last_name                TEXT NOT NULL,
    date_of_birth            TEXT NOT NULL,
    passenger_type           TEXT NOT NULL CHECK (passenger_type IN ('ADULT', 'CHILD', 'INFANT')),
    document_expiry          TEXT,
    document_issuing_country TEXT,
    document_nationality     TEXT,
    PRIMARY KEY (booking_id, position)
);

CREATE TABLE payments (
    id                 TEXT PRIMARY KEY,
    booking_id         TEXT NOT NULL REFERENCES bookings (id),
    session_id         TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'DECLINED', 'REFUNDED')),
    amount             TEXT NOT NULL,
    currency           TEXT NOT NULL,
    -- The payment-method token (`pm_card_visa`) or `payment_link`; never a card number.
    method             TEXT NOT NULL,
    gateway_payment_id TEXT,
    decline_code       TEXT,
    -- The client's idempotency key (scoped by session_id) that started it, if any.
    idempotency_key    TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX payments_booking ON payments (booking_id, created_at);
-- The backstop against a payment link and a direct payment both charging.
CREATE UNIQUE INDEX payments_one_success ON payments (booking_id) WHERE status = 'SUCCEEDED';
CREATE UNIQUE INDEX payments_gateway_id ON payments (gateway_payment_id) WHERE gateway_payment_id IS NOT NULL;

CREATE TABLE refunds (
    id                TEXT PRIMARY KEY,
    payment_id        TEXT NOT NULL REFERENCES payments (id),
    booking_id        TEXT NOT NULL REFERENCES bookings (id),
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    amount            TEXT NOT NULL,
    currency          TEXT NOT NULL,
    gateway_refund_id TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX refunds_booking ON refunds (booking_id, created_at);
-- Refunds are whole: one that is not FAILED per payment, so a retry cannot refund twice.
CREATE UNIQUE INDEX refunds_one_live ON refunds (payment_id) WHERE status <> 'FAILED';

-- Client idempotency keys, scoped per session (reliability.md §B2).
CREATE TABLE idempotency_keys (
    session_id      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    -- SHA-256 (hex) of the operation and its canonical input.
    fingerprint     TEXT NOT NULL,
    recovery_point  TEXT NOT NULL,
    locked_by       TEXT,
    locked_at       BIGINT,
    -- Set together when the request finished; replayed from then on.
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (session_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Payment webhook events, so each event id is processed once however often it is delivered.
CREATE TABLE webhook_events (
    id            TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    -- The processor's lease; a lapsed one lets a redelivery process the event.
    claimed_until BIGINT,
    processed_at  BIGINT
);
CREATE INDEX webhook_events_received ON webhook_events (received_at);
