//! Which of the six languages a message is written in. Travellers write two
//! or three words ("hola", "merci", "a Roma mañana"), so a statistical
//! detector trained on paragraphs guesses poorly; this one scores hand-written
//! tables of function words and characteristic words, plus the letters only
//! some of the languages use (ñ, ß, ã …), and falls back on the session's
//! language when the text says nothing either way ("LON CDG 2026-12-20",
//! "Paris").

use std::collections::HashMap;
use std::sync::LazyLock;

use super::model::Language;

/// Words per language, folded (lower case, no accents). `word:N` weighs `N`
/// (default 1); a word listed under several languages counts for each.
/// Weight 3 marks words that settle the question on their own (greetings,
/// thanks), 2 words typical of one language, 1 words shared with a neighbour.
const EN: &str = "the:2 to:2 from:2 i:2 want:2 would:2 like:2 flight:2 flights:2 please:2 tomorrow:3 tmrw:3 tmr:2 \
    2moro:3 tomorow:2 tommorow:2 next:2 week:2 and:2 for:2 with:2 my:2 me:2 we:2 are:2 is:2 what:2 about:2 day:2 \
    after:2 one:2 way:2 round:2 trip:2 return:2 returning:2 hi:3 hello:3 hey:3 thanks:3 thank:3 thx:3 you:2 bye:3 \
    goodbye:3 book:2 cheapest:3 cheap:2 under:2 people:2 adults:2 adult:2 kids:2 children:2 child:2 direct:1 \
    nonstop:2 of:2 on:2 in:1 go:2 fly:2 need:2 can:2 show:2 get:2 ticket:2 tickets:2 morning:3 evening:3 \
    afternoon:3 night:2 tonight:3 today:3 yes:3 ok:1 okay:1 how:2 much:2 help:2 wife:2 husband:2 baby:2 \
    option:1 second:2 first:2 third:2 back:2 leaving:2 there:2 an:2 it:2 that:2 this:2 sometime:2 around:2 \
    only:2 just:2 fastest:3 earliest:3 stops:2 fine:2 friday:2 monday:2 tuesday:2 wednesday:2 thursday:2 \
    saturday:2 sunday:2 december:2 january:2 february:2 march:1 april:1 june:1 july:1 august:1 september:1 \
    october:2 november:1 of:1 our:2 us:2 be:2 going:2 traveling:2 travelling:2 class:2 economy:1 business:1 \
    cancel:2 booking:2 status:2 pay:2 number:2 which:2 where:2 lets:2 let:2 nope:3 yeah:3 yep:3 sure:2 \
    looking:2 find:2 any:2 some:2 will:1 be:2 cheaper:2 earlier:2 later:2 before:2 days:2 weeks:2 month:2 \
    people:2 persons:2 passengers:2 make:2 actually:3 instead:3 alone:2 myself:2 son:2 daughter:2 up:2 max:1 \
    budget:2 dollars:2 bucks:2 euros:1 pounds:2 see:2 you:2 later:2 outbound:2 inbound:2 \
    born:3 birth:3 surname:3";
const ES: &str = "a:1 el:2 los:2 las:2 quiero:3 quisiera:3 ir:2 vuelo:3 vuelos:3 de:1 desde:3 hasta:3 para:1 con:1 \
    por:2 manana:2 pasado:3 hoy:3 semana:1 que:1 proximo:1 proxima:1 viernes:3 lunes:3 martes:3 miercoles:3 \
    jueves:3 sabado:2 domingo:2 hola:3 gracias:3 adios:3 ayuda:3 somos:2 adultos:1 ninos:3 nino:3 nina:3 \
    bebe:1 y:2 ida:1 vuelta:3 barato:1 baratos:2 mas:1 clase:2 sin:2 escalas:1 del:1 al:2 un:1 una:1 uno:1 \
    dos:2 tres:2 cuatro:2 mi:1 mis:2 esposa:1 marido:1 dia:1 diciembre:3 enero:3 febrero:3 marzo:2 abril:1 \
    mayo:3 junio:3 julio:3 agosto:1 septiembre:3 octubre:3 noviembre:3 necesito:3 busco:3 billete:3 billetes:3 \
    boleto:3 boletos:3 pasaje:3 pasajes:3 reservar:1 opcion:2 segunda:1 buenas:3 buenos:2 dias:1 noche:3 \
    tarde:1 tambien:2 cuanto:2 cuesta:3 esta:2 favor:1 si:1 vale:2 quiero:2 salir:2 regreso:2 volver:3 \
    vuelvo:3 mejor:2 cambia:2 mejor:2 solo:1 personas:2 pasajeros:3 hijos:2 hijo:2 hija:2 novia:2 novio:2 \
    pareja:2 esposo:2 mujer:2 directo:2 directos:2 rapido:2 temprano:3 siguiente:2 antes:1 despues:2 cual:2 \
    ese:2 eso:2 mismo:2 tengo:2 puedes:2 hacer:2 menos:1 euros:1 pesos:2 dolares:2 ahora:2 mejor:2 lo:1 \
    la:1 viaje:2 viajar:3 viajamos:3 vamos:2 semana:2 viene:2 finde:3 fin:2 economica:2 turista:2 ejecutiva:2 \
    primera:1 reserva:2 estado:2 cancelar:1 pagar:1 chao:2 nos:1 yo:2 otra:2 otro:2 mes:1 \
    llamo:3 nombre:3 apellidos:3 apellido:3 nacido:3 nacida:3 naci:3 nacimiento:3 correo:3 electronico:3";
const FR: &str = "option:1 je:3 veux:3 voudrais:3 aller:2 vol:3 vols:3 de:1 a:1 au:2 aux:2 pour:2 le:2 la:1 les:2 des:2 \
    du:2 demain:3 apres:3 aujourd:3 hui:2 semaine:3 prochaine:3 prochain:3 lundi:3 mardi:3 mercredi:3 jeudi:3 \
    vendredi:3 samedi:3 dimanche:3 bonjour:3 bonsoir:3 salut:3 coucou:3 merci:3 revoir:3 aide:3 nous:3 \
    sommes:3 adultes:3 enfants:3 enfant:3 bebe:1 bebes:2 et:2 retour:3 simple:2 moins:3 cher:3 classe:1 \
    affaires:3 sans:3 escale:3 escales:3 un:1 une:2 deux:3 trois:3 quatre:3 mon:2 ma:2 mes:1 femme:3 mari:3 \
    decembre:3 janvier:3 fevrier:3 mars:2 avril:3 mai:2 juin:3 juillet:3 aout:3 septembre:2 octobre:3 \
    novembre:1 est:2 il:1 y:1 avec:3 s:1 vous:3 plait:3 billet:3 billets:3 reserver:3 matin:3 soir:3 nuit:3 \
    quel:3 quelle:3 combien:3 oui:3 non:1 c:1 ca:2 on:1 peux:3 pouvez:3 partir:2 depuis:3 vers:2 jour:3 \
    jours:3 dans:3 moi:3 mois:2 voyage:2 voyager:3 rentrer:3 revenir:3 plutot:3 plus:2 rapide:2 tot:2 \
    premiere:2 deuxieme:3 troisieme:3 celle:3 celui:3 ci:1 prends:3 lendemain:3 veille:3 direct:1 directs:2 \
    personnes:3 passagers:2 fils:2 fille:2 copain:3 copine:3 seul:2 budget:1 maximum:1 euros:1 pas:2 \
    annuler:3 reservation:1 statut:2 payer:3 bien:1 prix:2 moi:2 ce:2 cette:2 qui:2 suis:3 sera:2 \
    appelle:3 naissance:3 nee:2 courriel:3 prenom:3 adresse:2";
const DE: &str = "option:1 ich:3 mochte:3 moechte:3 will:1 nach:3 von:3 ab:2 am:2 um:2 der:2 die:2 das:2 den:2 dem:3 ein:2 \
    eine:3 einen:3 flug:3 fluge:3 morgen:3 ubermorgen:3 heute:3 nachste:3 nachsten:3 naechste:3 \
    woche:3 montag:3 dienstag:3 mittwoch:3 donnerstag:3 freitag:3 samstag:3 sonntag:3 hallo:3 danke:3 \
    tschuss:3 tschuess:3 hilfe:3 wir:3 sind:3 erwachsene:3 kinder:3 kind:3 baby:1 und:3 hin:2 zuruck:3 \
    zurueck:3 einfach:3 gunstig:3 gunstigste:3 gunstigsten:3 billig:2 billigste:3 klasse:3 ohne:3 \
    umsteigen:3 direkt:3 zwei:3 drei:3 vier:3 mein:3 meine:3 meiner:3 meinem:3 frau:3 mann:3 mit:3 \
    dezember:3 januar:3 februar:3 marz:3 maerz:3 mai:1 juni:2 juli:2 oktober:3 ist:3 es:1 bitte:3 ja:2 \
    nein:3 fliegen:3 buchen:3 zweite:3 dritte:3 erste:3 abend:3 abends:3 nacht:3 tag:3 tage:3 tagen:3 \
    fur:2 fuer:3 bis:2 im:2 zum:3 gibt:3 gut:3 guten:3 auch:3 nicht:3 wie:3 viel:3 was:1 kannst:3 du:1 \
    kostet:3 unter:3 euro:2 moin:3 servus:3 wochenende:3 nachmittags:3 nachmittag:3 morgens:3 fruh:3 \
    wiedersehen:3 auf:2 lieber:3 doch:3 schnellste:3 fruhesten:3 personen:3 leute:3 passagiere:3 sohn:3 \
    tochter:3 freundin:3 freund:2 allein:3 uns:3 zuruckfliegen:3 ruckflug:3 hinflug:3 stornieren:3 \
    buchung:3 bezahlen:3 zahlen:3 welche:3 nehme:3 diese:2 dieser:2 lieber:2 januar:3 ende:1 \
    heisse:3 geboren:3 geburtsdatum:3 nachname:3 vorname:3";
const IT: &str = "in:1 economy:1 business:1 economica:1 voglio:3 vorrei:3 andare:3 volo:3 voli:3 da:1 a:1 per:2 il:2 lo:1 la:1 i:1 gli:3 le:1 di:2 \
    del:1 domani:3 dopodomani:3 oggi:3 settimana:3 prossima:3 prossimo:3 lunedi:3 martedi:3 mercoledi:3 \
    giovedi:3 venerdi:3 sabato:2 domenica:3 ciao:3 buongiorno:3 buonasera:3 salve:3 grazie:3 arrivederci:3 \
    aiuto:3 siamo:3 adulti:3 bambini:3 bambino:3 bambina:3 neonato:3 e:1 andata:3 ritorno:3 solo:1 \
    economico:3 classe:1 senza:3 scalo:3 scali:3 diretto:3 diretti:3 uno:1 una:1 due:3 tre:2 quattro:3 \
    mio:3 mia:2 moglie:3 marito:1 con:1 dicembre:3 gennaio:3 febbraio:3 marzo:1 aprile:3 maggio:3 giugno:3 \
    luglio:3 agosto:1 settembre:3 ottobre:3 novembre:1 biglietto:3 biglietti:3 prenotare:3 opzione:3 \
    seconda:2 mattina:3 sera:3 notte:3 pomeriggio:3 quanto:1 costa:2 si:1 che:2 cosa:3 puoi:3 meno:3 \
    piu:3 prezzo:3 partire:2 partendo:3 fino:3 tra:2 fra:2 giorni:3 giorno:3 dopo:3 prima:2 terza:3 \
    quella:3 quello:3 questo:3 questa:3 prendo:3 persone:3 passeggeri:3 figli:3 figlio:3 figlia:3 \
    ragazza:3 ragazzo:3 sono:3 viaggio:3 viaggiare:3 ho:3 bisogno:3 cerco:3 veloce:3 rapido:1 presto:3 \
    anche:3 non:1 va:2 bene:3 nel:3 alla:3 al:1 dal:3 dalla:3 tornare:3 torno:3 annullare:3 \
    prenotazione:3 stato:2 pagare:3 scegli:2 noi:3 \
    chiamo:3 nata:3 nato:3 nascita:3 cognome:3 indirizzo:3";
const PT: &str = "economica:1 a:1 neste:3 nesta:3 fim:3 somos:2 eu:3 quero:3 queria:3 gostaria:3 ir:1 para:1 pra:3 voo:3 voos:3 de:1 do:2 da:1 dos:1 das:2 \
    em:3 no:1 na:2 amanha:3 depois:3 hoje:3 semana:1 proxima:1 proximo:1 que:1 vem:3 ola:3 oi:3 \
    obrigado:3 obrigada:3 tchau:3 ajuda:3 somos:1 adultos:1 criancas:3 crianca:3 bebe:1 bebes:2 e:1 ida:1 \
    volta:3 barato:1 mais:3 classe:1 executiva:3 sem:3 escalas:1 escala:2 direto:3 diretos:3 um:3 uma:2 \
    dois:3 duas:3 tres:1 meu:3 minha:3 meus:3 minhas:3 esposa:1 marido:1 com:3 dezembro:3 janeiro:3 \
    fevereiro:3 marco:2 abril:1 maio:3 junho:3 julho:3 agosto:1 setembro:3 outubro:3 novembro:3 \
    passagem:3 passagens:3 reservar:1 opcao:3 segunda:1 manha:3 tarde:1 noite:3 quanto:1 custa:3 sim:3 \
    nao:3 voce:3 pode:3 menos:1 ate:3 partindo:3 saindo:3 dias:1 dia:1 bom:3 boa:3 feira:3 terca:3 \
    quarta:2 quinta:2 sexta:3 sabado:2 domingo:2 preciso:3 quero:2 viajar:1 viagem:3 filhos:3 filho:3 \
    filha:3 namorada:3 namorado:3 mulher:2 pessoas:3 passageiros:3 rapido:1 cedo:3 seguinte:3 antes:1 \
    essa:3 esse:3 isso:3 esta:1 pago:1 reais:3 real:1 tudo:3 bem:3 voltar:3 volto:3 cancelar:1 \
    reserva:1 pagar:1 primeira:3 terceira:3 sozinho:3 sozinha:3 nos:1 tambem:3 ao:3 aos:3 so:1 \
    chamo:3 nascido:3 nascida:3 nascimento:3 apelido:3 apelidos:3 sobrenome:3";

/// Folded word → weight per language (indexed like [`Language::ALL`]).
static WORDS: LazyLock<HashMap<&'static str, [u8; 6]>> = LazyLock::new(|| {
    let mut words: HashMap<&'static str, [u8; 6]> = HashMap::new();
    for (index, table) in [EN, ES, FR, DE, IT, PT].into_iter().enumerate() {
        for entry in table.split_whitespace() {
            let (word, weight) = match entry.split_once(':') {
                Some((word, weight)) => (word, weight.parse().unwrap_or(1)),
                None => (entry, 1),
            };
            let slot = &mut words.entry(word).or_default()[index];
            *slot = (*slot).max(weight);
        }
    }
    words
});

/// Every word the detector knows (folded).
pub(crate) fn all_words() -> Vec<&'static str> {
    WORDS.keys().copied().collect()
}

fn index(language: Language) -> usize {
    Language::ALL.iter().position(|l| *l == language).unwrap_or(0)
}

/// The language `text` is written in. `prior` (the session's language) wins
/// whenever the text is neutral or its score ties with the best; without a
/// prior, neutral text is English.
pub fn detect(text: &str, prior: Option<Language>) -> Language {
    let mut scores = [0u32; 6];
    let [es, fr, de, it, pt] = [1, 2, 3, 4, 5];
    for c in text.chars() {
        let lower = c.to_lowercase().next().unwrap_or(c);
        let cues: &[(usize, u32)] = match lower {
            'ñ' | '¿' | '¡' => &[(es, 4)],
            'ß' => &[(de, 4)],
            'ä' | 'ö' => &[(de, 3)],
            'ü' => &[(de, 3)],
            'ã' | 'õ' => &[(pt, 4)],
            'ç' => &[(fr, 2), (pt, 2)],
            'è' | 'ù' | 'œ' => &[(fr, 2), (it, 1)],
            'à' => &[(fr, 2), (it, 1), (pt, 1)],
            'ì' | 'ò' => &[(it, 3)],
            'ê' | 'ô' => &[(fr, 1), (pt, 2)],
            'â' | 'î' | 'û' | 'ë' | 'ï' => &[(fr, 2)],
            'á' | 'í' | 'ó' | 'ú' => &[(es, 1), (pt, 1)],
            'é' => &[(fr, 1), (es, 1), (pt, 1)],
            _ => &[],
        };
        for (language, weight) in cues {
            scores[*language] += weight;
        }
    }
    // Only Latin letters count: emoji and other scripts would fold into English words.
    let latin: String =
        text.chars()
            .map(|c| {
                if c.is_alphabetic() && (c as u32) >= 0x250 && !(0x1E00..0x1F00).contains(&(c as u32)) {
                    ' '
                } else {
                    c
                }
            })
            .filter(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_ascii_punctuation())
            .collect();
    let folded = crate::reference::fold(&latin);
    for word in folded.split(' ') {
        if let Some(weights) = WORDS.get(word) {
            for (score, weight) in scores.iter_mut().zip(weights) {
                *score += u32::from(*weight);
            }
        }
    }
    // Contractions the folding splits: "l'aéroport", "j'aimerais", "qu'il".
    for (pattern, language, weight) in [("l'", fr, 1), ("j'", fr, 3), ("qu'", fr, 2), ("d'", fr, 1), ("n'", fr, 2)] {
        if text.to_lowercase().contains(pattern) {
            scores[language] += weight;
        }
    }
    let best = scores.iter().copied().max().unwrap_or(0);
    if best == 0 {
        return prior.unwrap_or_default();
    }
    if let Some(prior) = prior
        && scores[index(prior)] == best
    {
        return prior;
    }
    Language::ALL.into_iter().zip(scores).find(|(_, s)| *s == best).map(|(l, _)| l).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Language::*;

    #[test]
    fn short_messages_are_recognised() {
        for (text, expected) in [
            ("hola", Es),
            ("gracias", Es),
            ("merci", Fr),
            ("bonjour", Fr),
            ("Hallo", De),
            ("danke", De),
            ("grazie", It),
            ("ciao", It),
            ("obrigado", Pt),
            ("olá", Pt),
            ("oi", Pt),
            ("hi", En),
            ("thanks", En),
        ] {
            assert_eq!(detect(text, None), expected, "{text}");
            assert_eq!(detect(text, Some(En)), expected, "{text} with an English prior");
        }
    }

    #[test]
    fn sentences_with_typos_and_missing_accents() {
        for (text, expected) in [
            ("quiero ir a londres manana", Es),
            ("je veux aller a rome", Fr),
            ("ich möchte nach Berlin", De),
            ("vorrei andare a Roma", It),
            ("quero ir para Lisboa", Pt),
            ("I'd like to go to Dubai", En),
            ("vuelos baratos a paris el viernes", Es),
            ("un vol pour Lisbonne demain", Fr),
            ("flug nach london am freitag", De),
            ("volo per parigi domani", It),
            ("passagem pra sao paulo amanha", Pt),
            ("2 adultos y un niño", Es),
            ("dois adultos e uma criança", Pt),
        ] {
            assert_eq!(detect(text, None), expected, "{text}");
        }
    }

    #[test]
    fn neutral_text_follows_the_prior() {
        assert_eq!(detect("LON CDG 2026-12-20", Some(Fr)), Fr);
        assert_eq!(detect("Paris", Some(De)), De);
        assert_eq!(detect("Paris", None), En);
        assert_eq!(detect("🙂🙂", Some(It)), It);
        assert_eq!(detect("", None), En);
        // "a Roma" is Spanish, Italian or Portuguese: the prior decides.
        assert_eq!(detect("a Roma", Some(Pt)), Pt);
        assert_eq!(detect("a Roma", Some(It)), It);
    }
}
