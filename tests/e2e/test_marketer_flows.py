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
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "15-phone-contacts")
    for path in ("/segments/new", "/templates/new", "/campaigns/new", "/messages", "/outbox", "/settings"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, f"{path} is {width}px wide on a 390px phone"
    page.goto("/templates/new")
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
    page.get_by_label("Field").fill("attributes.plan")
    page.get_by_label("Value").fill("gold")
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
    page.get_by_label("Goal event").fill("order_completed")
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

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_contain_text("completed", timeout=60_000)
    expect(page.get_by_test_id("sent")).to_have_text("16")
    report = page.locator("table.report-table")
    expect(report).to_contain_text("A")
    expect(report).to_contain_text("B")
    screenshot(page, "18-campaign-report")

    page.goto("/outbox")
    expect(page.locator(".outbox-entry").first).to_be_visible()
    screenshot(page, "19-outbox-after-campaign")
    page.goto("/")
    screenshot(page, "20-dashboard-after-campaign")
