"""Drives the bundled provider sandbox with the official Amadeus Python SDK.

Usage: check.py HOST PORT

The sandbox claims to be wire-compatible with Amadeus Self-Service where a
client can tell; the SDK is the client most people would point at it, and it
is strict in ways a hand-written client is not (exact Content-Type match
before it parses JSON, the literal `page%5Boffset%5D=` in pagination links,
204 on DELETE). Every step asserts what the SDK hands back; the first
failure exits 1 with the step's name and the cause. On success one JSON
summary line goes to stdout.
"""

import datetime
import decimal
import functools
import json
import re
import sys
import traceback
import urllib.request

import amadeus

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
# Amadeus sends money as decimal strings with two places ("342.20").
MONEY = re.compile(r"^\d+\.\d{2}$")


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def money(value, where):
    require(isinstance(value, str), f"{where} should be a decimal string, got {value!r}")
    require(MONEY.match(value), f"{where} should look like 342.20, got {value!r}")
    return decimal.Decimal(value)


def check_offer(offer, where):
    require(offer.get("type") == "flight-offer", f"{where}.type is {offer.get('type')!r}")
    require(offer.get("itineraries"), f"{where} has no itineraries")
    price = offer.get("price") or {}
    for field in ("total", "base", "grandTotal"):
        money(price.get(field), f"{where}.price.{field}")
    require(price.get("currency"), f"{where}.price.currency is missing")
    for i, pricing in enumerate(offer.get("travelerPricings") or []):
        money((pricing.get("price") or {}).get("total"), f"{where}.travelerPricings[{i}].price.total")


def check_route(response, origin_city, destination_city, where):
    """Every offer leaves the origin city and reaches the destination city,
    judged by the response's own dictionaries (as a client would)."""
    places = (response.result.get("dictionaries") or {}).get("locations") or {}
    for i, offer in enumerate(response.data):
        segments = offer["itineraries"][0]["segments"]
        start = segments[0]["departure"]["iataCode"]
        end = segments[-1]["arrival"]["iataCode"]
        require(start in places and end in places, f"{where}[{i}]: {start}/{end} missing from dictionaries.locations")
        require(places[start].get("cityCode") == origin_city, f"{where}[{i}] departs {start}, not in {origin_city}")
        require(places[end].get("cityCode") == destination_city, f"{where}[{i}] arrives {end}, not in {destination_city}")


def main(host, port):
    http = functools.partial(urllib.request.urlopen, timeout=10)

    def client(secret):
        # hostname stays 'test': the SDK looks it up even when host is given.
        return amadeus.Client(
            client_id=CLIENT_ID,
            client_secret=secret,
            host=host,
            port=port,
            ssl=False,
            http=http,
            log_level="silent",
        )

    sdk = client(CLIENT_SECRET)
    departure = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    summary = {"departureDate": departure}
    step = "start"

    try:
        step = "flight_offers_search.get"
        found = sdk.shopping.flight_offers_search.get(
            originLocationCode="LIS", destinationLocationCode="NYC", departureDate=departure, adults=1
        )
        require(found.status_code == 200, f"status {found.status_code}")
        require(isinstance(found.data, list) and found.data, "no offers")
        for i, offer in enumerate(found.data):
            check_offer(offer, f"data[{i}]")
        check_route(found, "LIS", "NYC", "data")
        require(found.result["meta"]["count"] == len(found.data), "meta.count differs from len(data)")
        summary["getOffers"] = len(found.data)

        step = "flight_offers_search.post"
        body = {
            "currencyCode": "EUR",
            "originDestinations": [
                {
                    "id": "1",
                    "originLocationCode": "LIS",
                    "destinationLocationCode": "NYC",
                    "departureDateTimeRange": {"date": departure},
                }
            ],
            "travelers": [{"id": "1", "travelerType": "ADULT"}],
            "sources": ["GDS"],
        }
        posted = sdk.shopping.flight_offers_search.post(body)
        require(posted.status_code == 200, f"status {posted.status_code}")
        require(isinstance(posted.data, list) and posted.data, "no offers")
        for i, offer in enumerate(posted.data):
            check_offer(offer, f"data[{i}]")
        check_route(posted, "LIS", "NYC", "data")
        summary["postOffers"] = len(posted.data)

        step = "flight_offers.pricing.post"
        # Sent back untouched, as the real API demands.
        priced = sdk.shopping.flight_offers.pricing.post(found.data[0])
        require(priced.status_code == 200, f"status {priced.status_code}")
        require(priced.data.get("type") == "flight-offers-pricing", f"data.type is {priced.data.get('type')!r}")
        priced_offers = priced.data.get("flightOffers") or []
        require(len(priced_offers) == 1, f"{len(priced_offers)} priced offers for 1 sent")
        priced_offer = priced_offers[0]
        check_offer(priced_offer, "data.flightOffers[0]")
        require(priced_offer["id"] == found.data[0]["id"], "the priced offer lost its id")
        require("bookingRequirements" in priced.data, "no bookingRequirements")
        summary["grandTotal"] = priced_offer["price"]["grandTotal"]
        summary["currency"] = priced_offer["price"]["currency"]

        step = "flight_offers.pricing.post(include='bags')"
        # With a query string the SDK's path no longer matches its override
        # list, so this POST arrives without X-HTTP-Method-Override: GET.
        with_bags = sdk.shopping.flight_offers.pricing.post(found.data[0], include="bags")
        require(with_bags.status_code == 200, f"status {with_bags.status_code}")
        require(with_bags.data.get("flightOffers"), "no priced offers")

        step = "flight_orders.post"
        traveler = {
            "id": "1",
            "dateOfBirth": "1982-01-16",
            "name": {"firstName": "JORGE", "lastName": "GONZALES"},
            "gender": "MALE",
            "contact": {
                "emailAddress": "jorge.gonzales833@telefonica.es",
                "phones": [{"deviceType": "MOBILE", "countryCallingCode": "34", "number": "480080076"}],
            },
            "documents": [
                {
                    "documentType": "PASSPORT",
                    "birthPlace": "Madrid",
                    "issuanceLocation": "Madrid",
                    "issuanceDate": "2015-04-14",
                    "number": "00000000",
                    "expiryDate": "2035-04-14",
                    "issuanceCountry": "ES",
                    "validityCountry": "ES",
                    "nationality": "ES",
                    "holder": True,
                }
            ],
        }
        booked = sdk.booking.flight_orders.post(priced_offer, traveler)
        require(booked.status_code == 201, f"status {booked.status_code}, expected 201")
        require(booked.data.get("type") == "flight-order", f"data.type is {booked.data.get('type')!r}")
        order_id = booked.data.get("id")
        require(isinstance(order_id, str) and order_id, "no order id")
        records = booked.data.get("associatedRecords") or []
        require(records, "no associatedRecords")
        reference = records[0].get("reference")
        require(isinstance(reference, str) and len(reference) == 6, f"record locator is {reference!r}")
        require(booked.data["travelers"][0]["name"]["lastName"] == "GONZALES", "traveler not echoed")
        summary["orderId"] = order_id
        summary["reference"] = reference

        step = "flight_order.get"
        # The id goes into the path exactly as returned (it may carry %2F).
        fetched = sdk.booking.flight_order(order_id).get()
        require(fetched.status_code == 200, f"status {fetched.status_code}")
        require(fetched.data.get("id") == order_id, f"got order {fetched.data.get('id')!r}")
        require(fetched.data["associatedRecords"][0]["reference"] == reference, "record locator changed")

        step = "flight_order.delete"
        deleted = sdk.booking.flight_order(order_id).delete()
        require(deleted.status_code == 204, f"status {deleted.status_code}, expected 204")

        step = "flight_order.get after delete"
        try:
            sdk.booking.flight_order(order_id).get()
        except amadeus.NotFoundError as error:
            require(error.response.status_code == 404, f"status {error.response.status_code}")
        else:
            raise CheckFailed("the cancelled order is still there")

        step = "reference_data.airlines.get"
        airlines = sdk.reference_data.airlines.get(airlineCodes="TP,BA")
        require(airlines.status_code == 200, f"status {airlines.status_code}")
        codes = sorted(a.get("iataCode") for a in airlines.data)
        require(codes == ["BA", "TP"], f"airlines {codes}")
        require(all(a.get("type") == "airline" and a.get("businessName") for a in airlines.data), "airline shape")

        step = "reference_data.locations.get"
        first = sdk.reference_data.locations.get(keyword="LON", subType=amadeus.Location.ANY)
        require(first.status_code == 200, f"status {first.status_code}")
        require(first.data, "no locations for LON")
        ids = [place.get("id") for place in first.data]
        require("CLON" in ids, f"city LON (CLON) not among {ids}")
        links = first.result["meta"]["links"]
        total = first.result["meta"]["count"]

        step = "client.next(locations)"
        second = sdk.next(first)
        if "next" in links:
            require(second is not None, f"next link {links['next']!r} but client.next returned None")
            require(second.status_code == 200, f"status {second.status_code}")
            require(second.data, "the next page is empty")
            overlap = set(ids) & {place.get("id") for place in second.data}
            require(not overlap, f"pages overlap: {sorted(overlap)}")
            require(sdk.previous(second) is not None, "client.previous of page 2 returned None")
            pages = [len(first.data), len(second.data)]
        else:
            require(second is None, "no next link, yet client.next returned a page")
            require(total <= len(first.data), f"meta.count {total} but one page of {len(first.data)} and no next")
            pages = [len(first.data)]
        summary["locations"] = {"count": total, "pages": pages}

        step = "reference_data.location('CLON').get"
        city = sdk.reference_data.location("CLON").get()
        require(city.status_code == 200, f"status {city.status_code}")
        require(city.data.get("id") == "CLON", f"id {city.data.get('id')!r}")
        require(city.data.get("subType") == "CITY", f"subType {city.data.get('subType')!r}")
        require(city.data.get("iataCode") == "LON", f"iataCode {city.data.get('iataCode')!r}")
        summary["city"] = city.data.get("name")

        step = "bad client_secret"
        try:
            client("not-the-secret").reference_data.airlines.get(airlineCodes="TP")
        except amadeus.AuthenticationError as error:
            require(error.response.status_code == 401, f"status {error.response.status_code}")
            require("invalid_client" in str(error), f"error text {str(error)!r}")
        else:
            raise CheckFailed("a wrong secret was accepted")
    except CheckFailed as failure:
        fail(step, str(failure))
    except amadeus.ResponseError as error:
        response = error.response
        body = getattr(response, "body", None)
        if isinstance(body, str) and len(body) > 2000:
            body = body[:2000] + f"... ({len(body)} characters)"
        headers = dict(getattr(response, "headers", None) or {})
        fail(step, f"{type(error).__name__} {error}\nheaders: {headers}\nbody: {body!r}")
    except Exception:
        fail(step, traceback.format_exc())

    print(json.dumps({"ok": True, **summary}, sort_keys=True))


def fail(step, message):
    print(f"amadeus SDK check failed at {step}: {message}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        print("usage: check.py HOST PORT", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], int(sys.argv[2]))
