"""The marketer's flows in headless Chromium against a real embedded-mode server."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CSV = (
    "external_id,email,phone,locale,timezone,first_name,plan,lifetime_value\n"
    "ana,ana@example.com,+351912345678,pt-BR,Europe/Lisbon,Ana,pro,420.5\n"
    "bruno,bruno@example,+14155550101,en,America/New_York,Bruno,free,12\n"
    "chen,chen@example.com,+14155550102,en,America/Los_Angeles,Chen,team,900\n"
    "dara,dara@example.com,,de,Europe/Berlin,Dara,pro,77\n"
)


def import_contacts(page, csv_text=CSV, name="people.csv"):
    page.goto("/contacts")
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": csv_text.encode()})
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=30_000)


def test_sign_in_and_the_dashboard(new_page):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/"))
    screenshot(page, "01-sign-in")
    page.get_by_label("Email").fill("admin@e2e.test")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#password-error")).to_contain_text("do not match")
    page.get_by_label("Password").fill("e2e password 123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(page.locator("svg.chart").first).to_be_visible()
    screenshot(page, "02-dashboard")


def test_csv_import_with_a_bad_row_then_the_contact_profile(new_page):
    page = new_page("editor")
    import_contacts(page)
    expect(page.get_by_test_id("created")).to_have_text("3")
    expect(page.get_by_test_id("bad-rows")).to_have_text("1")
    report = page.locator("table.error-report")
    expect(report).to_contain_text("bruno")
    expect(report.locator("tbody tr").first.locator("td").first).to_have_text("3")
    expect(report).to_contain_text("email")
    screenshot(page, "03-csv-import-report")

    page.get_by_role("link", name="See contacts").click()
    expect(page.get_by_role("link", name="ana", exact=True)).to_be_visible()
    page.get_by_label("Search contacts").fill("che")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="chen", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="ana", exact=True)).to_have_count(0)
    screenshot(page, "04-contacts")
    page.get_by_role("link", name="chen", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("chen"))).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text(["+14155550102"])
    expect(page.get_by_text("lifetime_value")).to_be_visible()
    screenshot(page, "05-contact-profile")


def test_template_editor_shows_the_four_channel_preview_for_a_contact(new_page):
    page = new_page("editor")
    import_contacts(page, "external_id,first_name,locale\nfatima,Fatima,en\n", "one.csv")
    page.goto("/templates")
    page.get_by_role("link", name="New template").first.click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Spring sale")
    page.get_by_role("textbox", name="Key", exact=True).fill("spring-sale")
    previews = page.locator("#preview .preview")
    expect(previews).to_have_count(4)
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", name="Spring sale")).to_be_visible()

    page.get_by_label("Preview for contact (external id)").fill("fatima")
    expect(page.locator("#preview")).to_contain_text("For fatima")
    for selector in (".sms-bubble", ".push-card", ".email-frame iframe", ".inapp-card"):
        expect(page.locator(f"#preview {selector}")).to_be_visible()
    expect(page.locator("#preview .sms-bubble")).to_contain_text("Hi Fatima")
    expect(page.frame_locator("#preview .email-frame iframe").locator("body")).to_contain_text("Hi Fatima")
    screenshot(page, "06-template-preview")

    # A syntax error is shown at its field with its line, and nothing is saved.
    page.get_by_role("tab", name="SMS").click()
    page.get_by_role("textbox", name="Text", exact=True).fill("Hi {{ contact.first_name\nsecond line")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator("#sms-body-error")).to_contain_text("Line 2")
    screenshot(page, "07-template-error-at-line")

    page.goto("/templates/spring-sale")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish v1").click()
    expect(page.get_by_text("Version 1 is published")).to_be_visible()


def test_a_viewer_cannot_change_anything(new_page):
    page = new_page("viewer")
    page.goto("/contacts")
    expect(page.get_by_role("link", name="Import CSV")).to_have_count(0)
    page.goto("/templates")
    expect(page.get_by_role("link", name="New template")).to_have_count(0)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = page.request.post("/contacts/imports/new", multipart={
        "csrf_token": token, "file": {"name": "x.csv", "mimeType": "text/csv", "buffer": b"external_id\nx\n"}})
    assert refused.status == 403
    refused = page.request.post("/templates/new", form={"csrf_token": token, "key": "x", "name": "x"})
    assert refused.status == 403
    page.goto("/settings")
    expect(page.get_by_role("button", name="Create API key")).to_have_count(0)
    screenshot(page, "08-settings-as-viewer")


def test_a_form_without_a_csrf_token_is_refused(new_page):
    page = new_page("admin")
    refused = page.request.post("/settings/api-keys", form={"name": "sneaky"})
    assert refused.status == 400
    assert "CSRF" in refused.text()
    page.goto("/settings")
    expect(page.get_by_text("sneaky")).to_have_count(0)


def test_settings_outbox_messages_and_audit_pages(new_page):
    page = new_page("admin")
    page.goto("/settings")
    page.get_by_label("Key name").fill("checkout service")
    page.get_by_role("button", name="Create API key").click()
    expect(page.locator("#new-secret")).to_contain_text("chs_")
    screenshot(page, "09-settings")
    for path, name in (("/outbox", "10-outbox"), ("/messages", "11-messages"), ("/audit", "12-audit-log")):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        screenshot(page, name)
    expect(page.locator("main")).to_contain_text("api_key.created")


def test_pages_work_at_phone_width(new_page):
    page = new_page("editor", width=390, height=844)
    nav_link = page.locator("#site-nav").get_by_role("link", name="Contacts", exact=True)
    expect(nav_link).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, "nothing wider than the phone"
    screenshot(page, "13-phone-dashboard")
    page.get_by_role("button", name="Menu").click()
    expect(nav_link).to_be_visible()
    screenshot(page, "14-phone-menu")
    nav_link.click()
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    # A click does not wait for the page's stylesheet as goto does; unstyled, it measures wider.
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "15-phone-contacts")
    for path in ("/segments/new", "/templates/new", "/campaigns/new", "/messages", "/outbox", "/settings"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, f"{path} is {width}px wide on a 390px phone"
    page.goto("/templates/new")
    # The preview loads after the page (htmx): wait for all four touchpoints, the email's body too.
    expect(page.locator("#preview .preview")).to_have_count(4)
    expect(page.locator("#preview .sms-bubble")).to_contain_text("Hi")
    expect(page.frame_locator("#preview .email-frame iframe").locator("body")).to_contain_text("Hi")
    expect(page.get_by_text("Loading the preview")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, "the preview fits the phone"
    screenshot(page, "15b-phone-template-editor")


AB_CSV = "external_id,email,first_name,plan\n" + "".join(
    f"ab{n},ab{n}@example.com,Person{n},{'gold' if n % 3 else 'basic'}\n" for n in range(12))


def create_published_template(page, key: str, name: str):
    page.goto("/templates/new")
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_role("textbox", name="Key", exact=True).fill(key)
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish v1").click()
    expect(page.get_by_text("Version 1 is published")).to_be_visible()


def test_segment_then_ab_campaign_launch_complete_and_report(new_page):
    page = new_page("editor")
    import_contacts(page, AB_CSV, "ab.csv")
    create_published_template(page, "gold-offer", "Gold offer")

    # Segment: a rule, the live count, save.
    page.goto("/segments")
    page.get_by_role("link", name="New segment").first.click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Gold members")
    page.get_by_label("Field", exact=True).fill("attributes.plan")
    page.get_by_label("Value", exact=True).fill("gold")
    expect(page.get_by_test_id("audience-count")).to_have_text("8")
    screenshot(page, "16-segment-builder")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_text("Segment “Gold members” saved.")).to_be_visible()

    # Campaign: the six steps.
    page.goto("/campaigns")
    page.get_by_role("link", name="New campaign").first.click()
    page.get_by_label("Campaign name").fill("Gold A/B")
    page.get_by_label("Audience").select_option(label="Gold members")
    page.get_by_role("button", name="Create and continue").click()
    page.get_by_label("Template", exact=True).select_option("gold-offer")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("checkbox", name="Email").check()
    page.get_by_role("checkbox", name="In-app").check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("radio", name="As soon as it is launched").check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Variant 1 name").fill("A")
    page.get_by_label("Variant 2 name").fill("B")
    page.get_by_label("Holdout (% who get nothing, to measure lift)").fill("40")
    page.get_by_label("Goal event", exact=True).fill("order_completed")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_test_id("review-audience")).to_have_text("8")
    screenshot(page, "17-campaign-review")

    # A viewer sees the review but cannot launch: no button, and the POST is refused.
    viewer = new_page("viewer")
    viewer.goto(page.url)
    expect(viewer.get_by_role("button", name="Launch campaign")).to_have_count(0)
    token = viewer.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = viewer.request.post(page.url.replace("/review", "/launch"), form={"csrf_token": token})
    assert refused.status == 403

    campaign_id = int(re.search(r"/campaigns/(\d+)/", page.url).group(1))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_contain_text("completed", timeout=60_000)
    holdout_row = page.locator("tr").filter(has=page.locator("td", has_text=re.compile(r"^holdout$")))
    held_out = int(holdout_row.locator("td").nth(1).inner_text())
    assert 0 < held_out < 8, "stable hashing puts some of the 8 in the 40% holdout"
    expect(page.get_by_test_id("sent")).to_have_text(str(2 * (8 - held_out)))  # email and in-app each
    report = page.locator("table.report-table")
    expect(report).to_contain_text("A")
    expect(report).to_contain_text("B")

    # The shop's backend reports orders; the report counts conversions, lift and its interval.
    admin = new_page("admin")
    admin.goto("/settings")
    admin.get_by_label("Key name").fill("orders service")
    admin.get_by_role("button", name="Create API key").click()
    secret = admin.locator("#new-secret").inner_text().strip()
    buyers = [f"ab{n}" for n in (1, 2, 4, 5, 7, 8, 10)]
    tracked = admin.request.post("/v1/events", headers={"Authorization": f"Bearer {secret}"},
                                 data={"events": [{"external_id": who, "name": "order_completed"} for who in buyers]})
    assert tracked.status == 202, tracked.text()
    page.reload()
    expect(page.get_by_test_id("variant-ci").first).to_contain_text(re.compile(r"pts \(95% CI [+-]\d"))
    expect(page.get_by_test_id("total-ci")).to_contain_text("95% CI")
    expect(page.locator("svg.intervals")).to_be_visible()
    screenshot(page, "18-campaign-report")

    # Sandbox email never reports delivery: the rate is unknown, not a failing 0%.
    expect(page.get_by_test_id("delivered")).to_have_text("—")
    expect(page.get_by_test_id("delivery-hint").first).to_contain_text("no delivery receipts")
    expect(page.get_by_test_id("variant-funnel")).to_have_count(2)

    page.goto("/outbox")
    expect(page.locator(".outbox-entry").first).to_be_visible()
    screenshot(page, "19-outbox-after-campaign")
    page.goto("/")
    screenshot(page, "20-dashboard-after-campaign")

    # One of its messages, and its timeline.
    page.goto(f"/messages?campaign={campaign_id}")
    page.locator("main table tbody tr").first.locator("a").first.click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator("ol.timeline li").first).to_be_visible()
    screenshot(page, "21-message-timeline")


def test_build_a_triggered_campaign_in_the_builder(new_page):
    page = new_page("editor")
    create_published_template(page, "cart-reminder", "Cart reminder")
    page.goto("/campaigns/new")
    page.get_by_label("Campaign name").fill("Cart reminder")
    page.get_by_role("button", name="Create and continue").click()
    page.get_by_label("Template", exact=True).select_option("cart-reminder")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("checkbox", name="Email").check()
    page.get_by_role("checkbox", name="In-app").check()
    page.get_by_role("button", name="Save and continue").click()

    # Schedule: when an event happens, with a property filter, a delay, an exit event, re-entry.
    expect(page.get_by_label("Event name", exact=True)).to_be_hidden()
    page.get_by_role("radio", name="When an event happens").check()
    page.get_by_label("Event name", exact=True).fill("cart_updated")
    page.get_by_label("Only when the event has: filter 1 property", exact=True).fill("total")
    page.get_by_label("Only when the event has: filter 1 comparison", exact=True).select_option("gte")
    page.get_by_label("Only when the event has: filter 1 value", exact=True).fill("20")
    page.get_by_label("Then wait", exact=True).fill("1")
    page.get_by_label("Then wait unit", exact=True).select_option("hours")
    page.get_by_label("Unless, meanwhile, they do", exact=True).fill("order_completed")
    page.get_by_role("radio", name="At most once every").check()
    page.get_by_label("Days between entries").fill("7")
    page.get_by_label("Quiet from", exact=True).fill("21:00")
    page.get_by_label("Until", exact=True).fill("08:00")
    page.get_by_label("Cap 1: most messages").fill("2")
    page.get_by_label("Cap 1: window", exact=True).fill("1")
    screenshot(page, "22-triggered-campaign-schedule")
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_label("Goal event", exact=True)).to_be_visible()
    page.get_by_label("Goal event", exact=True).fill("order_completed")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_test_id("review-trigger")).to_have_text(
        "when cart_updated with total ≥ 20, after 1 hour, unless they do order_completed; at most once every 7 days")
    expect(page.locator("dl.facts")).to_contain_text("21:00–08:00 local time, on every channel")
    expect(page.locator("dl.facts")).to_contain_text("at most 2 per channel in 1 day")
    screenshot(page, "23-triggered-campaign-review")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_contain_text("running")

    # Opened again in the builder, the campaign shows its trigger as saved.
    page.goto(page.url.replace("/report", "/schedule"))
    expect(page.get_by_role("radio", name="When an event happens")).to_be_checked()
    expect(page.get_by_label("Event name", exact=True)).to_have_value("cart_updated")
    expect(page.get_by_label("Only when the event has: filter 1 value", exact=True)).to_have_value("20")
    expect(page.get_by_label("Then wait unit", exact=True)).to_have_value("hours")
    expect(page.get_by_label("Days between entries")).to_have_value("7")

    phone = new_page("editor", width=390, height=844)
    phone.goto(page.url)
    expect(phone.get_by_label("Event name", exact=True)).to_have_value("cart_updated")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the trigger form is {width}px wide on a 390px phone"
    screenshot(phone, "22b-phone-triggered-campaign-schedule")


def test_a_segment_on_an_event_property_with_its_live_count(new_page):
    admin = new_page("admin")
    admin.goto("/settings")
    admin.get_by_label("Key name").fill("shop backend")
    admin.get_by_role("button", name="Create API key").click()
    secret = admin.locator("#new-secret").inner_text().strip()
    views = [("shoe1", "shoes")] * 2 + [("shoe2", "shoes")] * 3 + [("shoe3", "shoes")] + [("hat1", "hats")] * 2
    tracked = admin.request.post("/v1/events", headers={"Authorization": f"Bearer {secret}"}, data={
        "events": [{"external_id": who, "name": "viewed_product", "properties": {"category": category}}
                   for who, category in views]})
    assert tracked.status == 202, tracked.text()

    page = new_page("editor")
    page.goto("/segments/new")
    page.get_by_role("textbox", name="Name", exact=True).fill("Shoe fans")
    page.get_by_label("Condition type").select_option("event")
    page.get_by_label("Event name", exact=True).fill("viewed_product")
    page.get_by_label("Event property 1", exact=True).fill("category")
    page.get_by_label("Event property 1 value", exact=True).fill("shoes")
    page.get_by_label("How many times").select_option("gte")
    page.get_by_label("Times", exact=True).fill("2")
    page.get_by_label("When", exact=True).select_option("days")
    page.get_by_label("Days", exact=True).fill("7")
    expect(page.get_by_test_id("audience-count")).to_have_text("2")
    expect(page.get_by_test_id("audience-summary")).to_contain_text(
        'did viewed_product with category is "shoes" at least 2 times in the last 7 days')
    screenshot(page, "24-segment-event-property")
    page.get_by_label("How many times").select_option("eq")
    page.get_by_label("Times", exact=True).fill("1")
    expect(page.get_by_test_id("audience-count")).to_have_text("1")
    page.get_by_label("Did or did not").select_option("on")
    expect(page.get_by_label("Times", exact=True)).to_be_hidden()
    page.get_by_label("Did or did not").select_option("")
    page.get_by_label("How many times").select_option("gte")
    page.get_by_label("Times", exact=True).fill("2")
    expect(page.get_by_test_id("audience-count")).to_have_text("2")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_text("Segment “Shoe fans” saved.")).to_be_visible()
    expect(page.get_by_label("Event property 1 value", exact=True)).to_have_value("shoes")


def test_lists_and_dead_letters_as_a_marketer_sees_them(new_page):
    page = new_page("editor")
    for path, heading, name in (("/campaigns", "Campaigns", "25-campaigns-list"),
                                ("/segments", "Segments", "26-segments-list"),
                                ("/messages/dead-letters", "Dead letters", "27-dead-letters")):
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        screenshot(page, name)
