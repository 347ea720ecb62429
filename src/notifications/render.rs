//! What a notification says, in the traveller's language: the stored title
//! and body, and the per-channel messages — an e-mail with text and HTML
//! parts that carries the itinerary, the travellers, the booking reference and
//! a receipt of the amount paid (as an e-ticket receipt does), an SMS, a push.
//!
//! Everything the traveller typed (names) is escaped in the HTML part; the
//! texts are written per language, not translated at run time.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::channels::{ChannelKind, OutboundMessage};
use crate::booking::model::{BookingEvent, BookingEventKind};
use crate::chat::model::Language;
use crate::chat::reply::{format_date, format_money, place_name};
use crate::flights::model::Offer;
use crate::store::bookings::BookingRecord;

/// SMS bodies beyond this many characters are cut (two GSM segments' worth
/// of Unicode text).
const SMS_LIMIT: usize = 300;

/// The stored part of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// A few words.
    pub title: String,
    /// One or two sentences.
    pub body: String,
}

/// What a message may say about the booking beyond the event itself.
#[derive(Debug, Clone, Default)]
pub struct BookingFacts<'a> {
    /// The booking as stored, when it could be read.
    pub booking: Option<&'a BookingRecord>,
    /// The succeeded payment's gateway id, for the receipt.
    pub payment_reference: Option<String>,
}

/// The language of an event (its stored tag), English when unknown.
pub fn language_of(event: &BookingEvent) -> Language {
    Language::from_tag(&event.language).unwrap_or_default()
}

/// The title and body of the notification for `event`.
pub fn content(event: &BookingEvent, facts: &BookingFacts<'_>) -> Content {
    let language = language_of(event);
    let (title, template) = texts(event.kind, language);
    let values = Values::of(event, facts, language);
    Content { title: title.to_owned(), body: values.fill(template) }
}

/// The message for one channel and destination.
pub fn message(
    channel: ChannelKind,
    to: &str,
    notification_id: &str,
    event: &BookingEvent,
    content: &Content,
    facts: &BookingFacts<'_>,
) -> OutboundMessage {
    let idempotency_key = format!("{}-{}", event.id, channel.as_str());
    match channel {
        ChannelKind::Email => {
            let language = language_of(event);
            let mut subject = content.title.clone();
            if let Some(route) = facts.booking.map(|b| route(&b.offer, language)) {
                subject.push_str(" — ");
                subject.push_str(&route);
            }
            if let Some(reference) = &event.reference {
                subject.push_str(&format!(" ({reference})"));
            }
            OutboundMessage {
                to: to.to_owned(),
                subject,
                text: email_text(event, content, facts, language),
                html: Some(email_html(event, content, facts, language)),
                data: BTreeMap::new(),
                idempotency_key,
            }
        }
        ChannelKind::Sms => OutboundMessage {
            to: to.to_owned(),
            subject: content.title.clone(),
            text: truncate(&format!("Wayfarer: {} — {}", content.title, content.body), SMS_LIMIT),
            html: None,
            data: BTreeMap::new(),
            idempotency_key,
        },
        ChannelKind::Push => {
            let mut data = BTreeMap::new();
            data.insert("notificationId".to_owned(), notification_id.to_owned());
            data.insert("kind".to_owned(), event.kind.as_str().to_owned());
            data.insert("bookingId".to_owned(), event.booking_id.clone());
            OutboundMessage {
                to: to.to_owned(),
                subject: content.title.clone(),
                text: content.body.clone(),
                html: None,
                data,
                idempotency_key,
            }
        }
    }
}

/// The values templates refer to.
struct Values {
    route: String,
    date: String,
    amount: String,
    reference: String,
    time: String,
    code: String,
}

impl Values {
    fn of(event: &BookingEvent, facts: &BookingFacts<'_>, language: Language) -> Self {
        let booking = facts.booking;
        let route = booking.map_or_else(|| event.booking_id.clone(), |b| route(&b.offer, language));
        let date =
            booking.and_then(|b| b.offer.departure().map(|d| format_date(d.at.date(), language))).unwrap_or_default();
        let amount =
            event.amount.as_ref().or(booking.map(|b| &b.total)).map(|m| format_money(m, language)).unwrap_or_default();
        let expires = event.expires_at.or(booking.map(|b| b.expires_at));
        Self {
            route,
            date,
            amount,
            reference: event
                .reference
                .clone()
                .or_else(|| booking.and_then(|b| b.reference.clone()))
                .unwrap_or_default(),
            time: expires.map(|t| t.format("%H:%M").to_string()).unwrap_or_default(),
            code: event.decline_code.clone().unwrap_or_else(|| "declined".to_owned()),
        }
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{route}", &self.route)
            .replace("{date}", &self.date)
            .replace("{amount}", &self.amount)
            .replace("{reference}", &self.reference)
            .replace("{time}", &self.time)
            .replace("{code}", &self.code)
    }
}

/// "London → Madrid" (and back, "London ⇄ Madrid").
fn route(offer: &Offer, language: Language) -> String {
    let Some(outbound) = offer.itineraries.first() else { return String::new() };
    let (Some(first), Some(last)) = (outbound.segments.first(), outbound.segments.last()) else {
        return String::new();
    };
    let arrow = if offer.itineraries.len() > 1 { "⇄" } else { "→" };
    format!(
        "{} {arrow} {}",
        place_name(&first.departure.airport, language),
        place_name(&last.arrival.airport, language)
    )
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The e-mail's labels.
struct Labels {
    itinerary: &'static str,
    travellers: &'static str,
    receipt: &'static str,
    amount_paid: &'static str,
    total: &'static str,
    reference: &'static str,
    booking: &'static str,
    payment: &'static str,
    outbound: &'static str,
    inbound: &'static str,
    footer: &'static str,
}

fn labels(language: Language) -> Labels {
    match language {
        Language::En => Labels {
            itinerary: "Itinerary",
            travellers: "Travellers",
            receipt: "Receipt",
            amount_paid: "Amount paid",
            total: "Total",
            reference: "Booking reference",
            booking: "Booking",
            payment: "Payment",
            outbound: "Outbound",
            inbound: "Return",
            footer: "Times are local to each airport. Keep this e-mail: it is your receipt.",
        },
        Language::Es => Labels {
            itinerary: "Itinerario",
            travellers: "Viajeros",
            receipt: "Recibo",
            amount_paid: "Importe pagado",
            total: "Total",
            reference: "Localizador",
            booking: "Reserva",
            payment: "Pago",
            outbound: "Ida",
            inbound: "Vuelta",
            footer: "Las horas son locales de cada aeropuerto. Guarda este correo: es tu recibo.",
        },
        Language::Fr => Labels {
            itinerary: "Itinéraire",
            travellers: "Voyageurs",
            receipt: "Reçu",
            amount_paid: "Montant payé",
            total: "Total",
            reference: "Référence de réservation",
            booking: "Réservation",
            payment: "Paiement",
            outbound: "Aller",
            inbound: "Retour",
            footer: "Les heures sont locales à chaque aéroport. Conservez ce courriel : c'est votre reçu.",
        },
        Language::De => Labels {
            itinerary: "Reiseverlauf",
            travellers: "Reisende",
            receipt: "Beleg",
            amount_paid: "Bezahlter Betrag",
            total: "Gesamt",
            reference: "Buchungscode",
            booking: "Buchung",
            payment: "Zahlung",
            outbound: "Hinflug",
            inbound: "Rückflug",
            footer: "Alle Zeiten sind Ortszeiten des jeweiligen Flughafens. Bewahren Sie diese E-Mail als Beleg auf.",
        },
        Language::It => Labels {
            itinerary: "Itinerario",
            travellers: "Viaggiatori",
            receipt: "Ricevuta",
            amount_paid: "Importo pagato",
            total: "Totale",
            reference: "Codice di prenotazione",
            booking: "Prenotazione",
            payment: "Pagamento",
            outbound: "Andata",
            inbound: "Ritorno",
            footer: "Gli orari sono locali di ciascun aeroporto. Conserva questa e-mail: è la tua ricevuta.",
        },
        Language::Pt => Labels {
            itinerary: "Itinerário",
            travellers: "Viajantes",
            receipt: "Recibo",
            amount_paid: "Valor pago",
            total: "Total",
            reference: "Código da reserva",
            booking: "Reserva",
            payment: "Pagamento",
            outbound: "Ida",
            inbound: "Volta",
            footer: "Os horários são locais de cada aeroporto. Guarde este e-mail: é o seu recibo.",
        },
    }
}

/// Whether the e-mail carries the receipt: money has moved.
fn paid(kind: BookingEventKind) -> bool {
    matches!(kind, BookingEventKind::PaymentSucceeded | BookingEventKind::BookingConfirmed)
}

/// One line per flight: `TP1350  Lisbon (LIS) 15 January 08:05 → London (LHR) 10:40`.
fn flight_lines(offer: &Offer, language: Language, labels: &Labels) -> Vec<(String, Vec<String>)> {
    offer
        .itineraries
        .iter()
        .enumerate()
        .map(|(i, itinerary)| {
            let heading = if i == 0 { labels.outbound } else { labels.inbound }.to_owned();
            let lines = itinerary
                .segments
                .iter()
                .map(|s| {
                    format!(
                        "{}  {} ({}) {} {} → {} ({}) {}",
                        s.flight_number,
                        place_name(&s.departure.airport, language),
                        s.departure.airport,
                        format_date(s.departure.at.date(), language),
                        s.departure.at.format("%H:%M"),
                        place_name(&s.arrival.airport, language),
                        s.arrival.airport,
                        s.arrival.at.format("%H:%M"),
                    )
                })
                .collect();
            (heading, lines)
        })
        .collect()
}

fn email_text(event: &BookingEvent, content: &Content, facts: &BookingFacts<'_>, language: Language) -> String {
    let labels = labels(language);
    let mut text = format!("{}\n\n{}\n", content.title, content.body);
    if let Some(reference) = &event.reference {
        let _ = write!(text, "\n{}: {reference}\n", labels.reference);
    }
    if let Some(booking) = facts.booking {
        let _ = write!(text, "\n{}\n", labels.itinerary);
        for (heading, lines) in flight_lines(&booking.offer, language, &labels) {
            let _ = writeln!(text, "{heading}:");
            for line in lines {
                let _ = writeln!(text, "  {line}");
            }
        }
        let _ = write!(text, "\n{}\n", labels.travellers);
        for traveller in &booking.travelers {
            let _ = writeln!(text, "  {} {}", traveller.first_name, traveller.last_name);
        }
        if paid(event.kind) {
            let _ = write!(text, "\n{}\n", labels.receipt);
            let _ = writeln!(text, "  {}: {}", labels.amount_paid, format_money(&booking.total, language));
            if let Some(payment) = &facts.payment_reference {
                let _ = writeln!(text, "  {}: {payment}", labels.payment);
            }
        } else {
            let _ = write!(text, "\n{}: {}\n", labels.total, format_money(&booking.total, language));
        }
    }
    let _ = write!(text, "\n{}: {}\n{}\n", labels.booking, event.booking_id, labels.footer);
    text
}

fn email_html(event: &BookingEvent, content: &Content, facts: &BookingFacts<'_>, language: Language) -> String {
    let labels = labels(language);
    let mut html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:auto\">\
         <h1 style=\"font-size:1.4rem\">{}</h1><p>{}</p>",
        language.code(),
        escape(&content.title),
        escape(&content.title),
        escape(&content.body)
    );
    if let Some(reference) = &event.reference {
        let _ = write!(
            html,
            "<p>{}: <strong style=\"font-size:1.3rem;letter-spacing:.1em\">{}</strong></p>",
            escape(labels.reference),
            escape(reference)
        );
    }
    if let Some(booking) = facts.booking {
        let _ = write!(html, "<h2 style=\"font-size:1.1rem\">{}</h2>", escape(labels.itinerary));
        for (heading, lines) in flight_lines(&booking.offer, language, &labels) {
            let _ = write!(html, "<h3 style=\"font-size:1rem\">{}</h3><ul>", escape(&heading));
            for line in lines {
                let _ = write!(html, "<li>{}</li>", escape(&line));
            }
            html.push_str("</ul>");
        }
        let _ = write!(html, "<h2 style=\"font-size:1.1rem\">{}</h2><ul>", escape(labels.travellers));
        for traveller in &booking.travelers {
            let _ = write!(html, "<li>{} {}</li>", escape(&traveller.first_name), escape(&traveller.last_name));
        }
        html.push_str("</ul>");
        if paid(event.kind) {
            let _ = write!(
                html,
                "<h2 style=\"font-size:1.1rem\">{}</h2><table><tr><td>{}</td><td><strong>{}</strong></td></tr>",
                escape(labels.receipt),
                escape(labels.amount_paid),
                escape(&format_money(&booking.total, language))
            );
            if let Some(payment) = &facts.payment_reference {
                let _ = write!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(labels.payment), escape(payment));
            }
            html.push_str("</table>");
        } else {
            let _ = write!(
                html,
                "<p>{}: <strong>{}</strong></p>",
                escape(labels.total),
                escape(&format_money(&booking.total, language))
            );
        }
    }
    let _ = write!(
        html,
        "<p style=\"color:#555;font-size:.9rem\">{}: {}<br>{}</p></body></html>",
        escape(labels.booking),
        escape(&event.booking_id),
        escape(labels.footer)
    );
    html
}

/// HTML text escaping for the five characters that matter.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Title and body template of each kind in each language.
fn texts(kind: BookingEventKind, language: Language) -> (&'static str, &'static str) {
    use BookingEventKind as K;
    use Language as L;
    match (language, kind) {
        (L::En, K::BookingCreated) => {
            ("Booking created", "Your seats on {route} ({date}) are held until {time} UTC. Pay {amount} to confirm.")
        }
        (L::En, K::PaymentSucceeded) => ("Payment received", "We received {amount} for {route} ({date})."),
        (L::En, K::PaymentFailed) => (
            "Payment declined",
            "Your payment for {route} was declined ({code}). You can try another card before {time} UTC.",
        ),
        (L::En, K::BookingConfirmed) => {
            ("Booking confirmed", "Your booking for {route} ({date}) is confirmed. Reference: {reference}.")
        }
        (L::En, K::BookingCancelled) => ("Booking cancelled", "Your booking for {route} ({date}) is cancelled."),
        (L::En, K::RefundIssued) => {
            ("Refund issued", "We refunded {amount} for {route}. It may take a few days to appear.")
        }
        (L::En, K::BookingExpiring) => {
            ("Hold ends soon", "Your seats on {route} are held until {time} UTC. Pay now to keep them.")
        }
        (L::En, K::BookingExpired) => {
            ("Hold expired", "The hold on {route} ({date}) ended unpaid; the seats were released.")
        }
        (L::Es, K::BookingCreated) => (
            "Reserva creada",
            "Tus plazas en {route} ({date}) están reservadas hasta las {time} UTC. Paga {amount} para confirmar.",
        ),
        (L::Es, K::PaymentSucceeded) => ("Pago recibido", "Hemos recibido {amount} por {route} ({date})."),
        (L::Es, K::PaymentFailed) => (
            "Pago rechazado",
            "Tu pago para {route} fue rechazado ({code}). Puedes probar otra tarjeta antes de las {time} UTC.",
        ),
        (L::Es, K::BookingConfirmed) => {
            ("Reserva confirmada", "Tu reserva para {route} ({date}) está confirmada. Localizador: {reference}.")
        }
        (L::Es, K::BookingCancelled) => ("Reserva cancelada", "Tu reserva para {route} ({date}) está cancelada."),
        (L::Es, K::RefundIssued) => {
            ("Reembolso emitido", "Te hemos reembolsado {amount} por {route}. Puede tardar unos días en aparecer.")
        }
        (L::Es, K::BookingExpiring) => (
            "La reserva caduca pronto",
            "Tus plazas en {route} están reservadas hasta las {time} UTC. Paga ahora para conservarlas.",
        ),
        (L::Es, K::BookingExpired) => {
            ("Reserva caducada", "La reserva de {route} ({date}) caducó sin pagar; las plazas se han liberado.")
        }
        (L::Fr, K::BookingCreated) => (
            "Réservation créée",
            "Vos places sur {route} ({date}) sont retenues jusqu'à {time} UTC. Payez {amount} pour confirmer.",
        ),
        (L::Fr, K::PaymentSucceeded) => ("Paiement reçu", "Nous avons reçu {amount} pour {route} ({date})."),
        (L::Fr, K::PaymentFailed) => (
            "Paiement refusé",
            "Votre paiement pour {route} a été refusé ({code}). Vous pouvez essayer une autre carte avant {time} UTC.",
        ),
        (L::Fr, K::BookingConfirmed) => {
            ("Réservation confirmée", "Votre réservation pour {route} ({date}) est confirmée. Référence : {reference}.")
        }
        (L::Fr, K::BookingCancelled) => ("Réservation annulée", "Votre réservation pour {route} ({date}) est annulée."),
        (L::Fr, K::RefundIssued) => (
            "Remboursement effectué",
            "Nous vous avons remboursé {amount} pour {route}. Il peut falloir quelques jours pour le voir.",
        ),
        (L::Fr, K::BookingExpiring) => (
            "Votre option expire bientôt",
            "Vos places sur {route} sont retenues jusqu'à {time} UTC. Payez maintenant pour les garder.",
        ),
        (L::Fr, K::BookingExpired) => {
            ("Option expirée", "L'option sur {route} ({date}) a expiré sans paiement ; les places ont été libérées.")
        }
        (L::De, K::BookingCreated) => (
            "Buchung angelegt",
            "Ihre Plätze auf {route} ({date}) sind bis {time} UTC reserviert. Zahlen Sie {amount}, um zu bestätigen.",
        ),
        (L::De, K::PaymentSucceeded) => ("Zahlung erhalten", "Wir haben {amount} für {route} ({date}) erhalten."),
        (L::De, K::PaymentFailed) => (
            "Zahlung abgelehnt",
            "Ihre Zahlung für {route} wurde abgelehnt ({code}). Sie können bis {time} UTC eine andere Karte versuchen.",
        ),
        (L::De, K::BookingConfirmed) => {
            ("Buchung bestätigt", "Ihre Buchung für {route} ({date}) ist bestätigt. Buchungscode: {reference}.")
        }
        (L::De, K::BookingCancelled) => ("Buchung storniert", "Ihre Buchung für {route} ({date}) ist storniert."),
        (L::De, K::RefundIssued) => (
            "Erstattung veranlasst",
            "Wir haben Ihnen {amount} für {route} erstattet. Es kann einige Tage dauern, bis der Betrag erscheint.",
        ),
        (L::De, K::BookingExpiring) => (
            "Reservierung läuft bald ab",
            "Ihre Plätze auf {route} sind bis {time} UTC reserviert. Zahlen Sie jetzt, um sie zu behalten.",
        ),
        (L::De, K::BookingExpired) => (
            "Reservierung abgelaufen",
            "Die Reservierung für {route} ({date}) ist unbezahlt abgelaufen; die Plätze wurden freigegeben.",
        ),
        (L::It, K::BookingCreated) => (
            "Prenotazione creata",
            "I tuoi posti su {route} ({date}) sono bloccati fino alle {time} UTC. Paga {amount} per confermare.",
        ),
        (L::It, K::PaymentSucceeded) => ("Pagamento ricevuto", "Abbiamo ricevuto {amount} per {route} ({date})."),
        (L::It, K::PaymentFailed) => (
            "Pagamento rifiutato",
            "Il pagamento per {route} è stato rifiutato ({code}). Puoi provare un'altra carta entro le {time} UTC.",
        ),
        (L::It, K::BookingConfirmed) => {
            ("Prenotazione confermata", "La tua prenotazione per {route} ({date}) è confermata. Codice: {reference}.")
        }
        (L::It, K::BookingCancelled) => {
            ("Prenotazione cancellata", "La tua prenotazione per {route} ({date}) è stata cancellata.")
        }
        (L::It, K::RefundIssued) => {
            ("Rimborso emesso", "Ti abbiamo rimborsato {amount} per {route}. Potrebbero volerci alcuni giorni.")
        }
        (L::It, K::BookingExpiring) => (
            "La prenotazione sta per scadere",
            "I tuoi posti su {route} sono bloccati fino alle {time} UTC. Paga ora per tenerli.",
        ),
        (L::It, K::BookingExpired) => (
            "Prenotazione scaduta",
            "Il blocco su {route} ({date}) è scaduto senza pagamento; i posti sono stati rilasciati.",
        ),
        (L::Pt, K::BookingCreated) => (
            "Reserva criada",
            "Os seus lugares em {route} ({date}) estão reservados até às {time} UTC. Pague {amount} para confirmar.",
        ),
        (L::Pt, K::PaymentSucceeded) => ("Pagamento recebido", "Recebemos {amount} por {route} ({date})."),
        (L::Pt, K::PaymentFailed) => (
            "Pagamento recusado",
            "O seu pagamento para {route} foi recusado ({code}). Pode tentar outro cartão antes das {time} UTC.",
        ),
        (L::Pt, K::BookingConfirmed) => {
            ("Reserva confirmada", "A sua reserva para {route} ({date}) está confirmada. Código: {reference}.")
        }
        (L::Pt, K::BookingCancelled) => ("Reserva cancelada", "A sua reserva para {route} ({date}) foi cancelada."),
        (L::Pt, K::RefundIssued) => {
            ("Reembolso emitido", "Reembolsámos {amount} por {route}. Pode demorar alguns dias a aparecer.")
        }
        (L::Pt, K::BookingExpiring) => (
            "A reserva expira em breve",
            "Os seus lugares em {route} estão reservados até às {time} UTC. Pague agora para os manter.",
        ),
        (L::Pt, K::BookingExpired) => {
            ("Reserva expirada", "A reserva de {route} ({date}) expirou sem pagamento; os lugares foram libertados.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn event(kind: BookingEventKind, language: &str) -> BookingEvent {
        BookingEvent {
            id: "evt-1".into(),
            kind,
            booking_id: "bk_1".into(),
            session_id: "s".into(),
            status: crate::booking::model::BookingStatus::Confirmed,
            previous_status: None,
            at: Utc::now(),
            payment_id: None,
            refund_id: None,
            amount: None,
            reference: Some("ABC123".into()),
            expires_at: None,
            decline_code: None,
            language: language.into(),
        }
    }

    #[test]
    fn every_kind_reads_in_every_language_with_no_placeholder_left() {
        for language in Language::ALL {
            let mut titles = std::collections::HashSet::new();
            for kind in BookingEventKind::ALL {
                let content = content(&event(kind, language.code()), &BookingFacts::default());
                assert!(!content.body.contains('{'), "{language:?} {kind:?}: {}", content.body);
                assert!(titles.insert(content.title.clone()), "{language:?}: two kinds share {:?}", content.title);
            }
        }
    }

    #[test]
    fn confirmation_names_the_reference_and_html_escapes() {
        let e = event(BookingEventKind::BookingConfirmed, "es");
        let content = content(&e, &BookingFacts::default());
        assert!(content.body.contains("ABC123"));
        assert_eq!(content.title, "Reserva confirmada");
        let message = message(ChannelKind::Email, "a@b.c", "ntf_1", &e, &content, &BookingFacts::default());
        assert!(message.subject.contains("ABC123"));
        assert!(message.text.contains("Localizador: ABC123"));
        assert_eq!(escape("<b>O'Neil & co</b>"), "&lt;b&gt;O&#39;Neil &amp; co&lt;/b&gt;");
    }

    #[test]
    fn sms_is_cut_to_its_limit() {
        let long = "x".repeat(1000);
        assert_eq!(truncate(&long, SMS_LIMIT).chars().count(), SMS_LIMIT);
        assert_eq!(truncate("short", SMS_LIMIT), "short");
    }
}
