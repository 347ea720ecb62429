-- Hosted payment pages (Checkout Sessions) opened for bookings by
-- createPaymentLink: the open one is handed out again instead of a second
-- page, and a completed-checkout webhook is accepted only for a page we made.
CREATE TABLE payment_links (
    checkout_id TEXT PRIMARY KEY,
    booking_id  TEXT NOT NULL REFERENCES bookings (id),
    url         TEXT NOT NULL,
    -- When the gateway stops taking payments on it.
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX payment_links_booking ON payment_links (booking_id, created_at);
