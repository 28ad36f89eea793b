"""TRAIN split templates: headers, prose, labels and JSON keys used while tuning the engine.

Kept apart from ``templates_test`` on purpose: no wording, header or key here is reused there.
"""

from __future__ import annotations

from .kit import Each, Letter, Table, TemplateSet

TABLES = (
    Table(
        "patient_registration",
        (
            ("Patient Name", "{patient_lf}"),
            ("DOB", "{dob_us}"),
            ("Sex", "{sex}"),
            ("SSN", "{ssn}"),
            ("MRN", "{mrn}"),
            ("Address", "{street}"),
            ("City", "{city}"),
            ("State", "{state}"),
            ("Zip", "{zip}"),
            ("Home Phone", "{phone}"),
            ("Email", "{email}"),
            ("Primary Insurance", "{payer}"),
            ("Member ID", "{insurance_id}"),
            ("Label Code", "{neg_inword}"),
            ("Order #", "{neg_10}"),
        ),
    ),
    Table(
        "provider_roster",
        (
            ("Provider", "{next_provider}{provider_lf}"),
            ("NPI", "{npi}"),
            ("DEA #", "{dea}"),
            ("Specialty", "{specialty}"),
            ("Office Phone", "{phone_provider}"),
            ("Email", "{email_provider}"),
            ("Old Ref", "{neg_npi}"),
            ("Stock Lot", "{neg_dea}"),
        ),
        rows=(6, 14),
    ),
    Table(
        "card_payments",
        (
            ("Payment Date", "{neg_date}"),
            ("Patient", "{patient}"),
            ("Account", "{claim_no}"),
            ("Card Number", "{card}"),
            ("Amount", "{amount}"),
            ("Order No", "{neg_10}"),
            ("Item", "{neg_card}"),
        ),
    ),
    Table(
        "charges_export",
        (
            ("DOS", "{neg_date}"),
            ("Patient Acct", "{claim_no}"),
            ("Patient", "{patient_ulf}"),
            ("CPT", "{cpt}"),
            ("Dx1", "{icd}"),
            ("Dx2", "{icd}"),
            ("Rendering NPI", "{npi}"),
            ("Charge", "{amount}"),
            ("Batch", "{neg_9}"),
        ),
    ),
    Table(
        "medicare_eligibility",
        (
            ("Beneficiary", "{patient_ulf}"),
            ("Birth Date", "{dob_iso}"),
            ("MBI", "{mbi}"),
            ("SSN (no dashes)", "{ssn_bare}"),
            ("Phone", "{phone}"),
            ("Mailing Address", "{address}"),
            ("Retired Key", "{neg_mbi}"),
            ("Scan Form", "{neg_ssn}"),
        ),
    ),
    Table(
        "patient_refunds",
        (
            ("Refund To", "{patient}"),
            ("Routing Number", "{aba_any}"),
            ("Account Number", "{acct_any}"),
            ("Refund Amount", "{amount}"),
            ("Part No", "{neg_spaced}"),
            ("Email", "{email}"),
            ("Bin", "{neg_aba}"),
        ),
        rows=(8, 20),
    ),
    Table(
        "portal_access_log",
        (
            ("Timestamp", "{svc_date} {time}"),
            ("User", "{email}"),
            ("Source IP", "{ip}"),
            ("Patient", "{patient}"),
            ("MRN", "{mrn}"),
            ("Action", "viewed statement"),
            ("Case", "{neg_9}"),
        ),
    ),
)

SHEETS = (
    Table(
        "ar_aging",
        (
            ("Patient", "{patient_lf}"),
            ("Date of Birth", "{dob_us}"),
            ("Account", "{claim_no}"),
            ("Payer", "{payer}"),
            ("Member ID", "{insurance_id}"),
            ("Balance", "{amount}"),
            ("Last Payment", "{svc_date}"),
        ),
    ),
    Table(
        "cards_on_file",
        (
            ("Cardholder", "{patient}"),
            ("Card #", "{card}"),
            ("Billing Zip", "{zip}"),
            ("Phone", "{phone}"),
            ("Email", "{email}"),
        ),
    ),
    Table(
        "credentialing",
        (
            ("Provider", "{next_provider}{provider}"),
            ("NPI", "{npi}"),
            ("DEA Number", "{dea}"),
            ("Specialty", "{specialty}"),
            ("Phone", "{phone_provider}"),
        ),
        rows=(5, 12),
    ),
    Table(
        "denials_worklist",
        (
            ("Patient", "{patient_ulf}"),
            ("DOB", "{dob}"),
            ("SSN", "{ssn}"),
            ("CPT/HCPCS", "{cpt}"),
            ("Diagnosis", "{icd}"),
            ("Address", "{street}"),
            ("ZIP", "{zip}"),
            ("IP of submitter", "{ip}"),
        ),
    ),
)

LETTERS = (
    Letter(
        "referral",
        (
            "{practice}\n{org_address}\nTel {phone_org}",
            "RE: {patient} | DOB: {dob} | MRN: {mrn}",
            "Dear Dr. {provider2_last},",
            "Thank you for agreeing to see {patient}. {patient_first} has been followed in our clinic for {icd} and "
            "was last examined on {neg_date}. We billed CPT {cpt} for that visit.",
            "Please send your consult note to Dr. {provider} (NPI {npi}) at {email_provider} or call {phone_provider}.",
            "Sincerely,\n{provider}, MD",
        ),
    ),
    Letter(
        "eft_enrollment",
        (
            "Electronic Funds Transfer Authorization",
            "Provider organization: {practice}, group NPI {npi_org}",
            "Bank routing number: {aba}\nChecking account number: {acct}",
            "Contact: {contact}, phone {phone_org}. Reference {neg_inword} on all correspondence.",
        ),
    ),
    Letter(
        "statement_note",
        (
            "Patient statement follow-up for {patient_lf}",
            "Guarantor {guarantor} called about the balance of ${amount}. Paid by card {card} over the phone. "
            "Mailing address confirmed: {address}.",
            "Callback number {phone}; email on file {email}. Portal login came from {ip}.",
        ),
    ),
    Letter(
        "prior_auth",
        (
            "Prior Authorization Request",
            "Member: {patient}\nMember ID: {insurance_id}\nDate of birth: {dob_long}\nHome address: {address}",
            "Requesting provider: Dr. {provider}, NPI {npi}, DEA {dea}",
            "Requested procedure (CPT): {cpt}; diagnosis {icd}, secondary {icd}.",
            "Order {neg_10} was placed on {neg_date}.",
        ),
    ),
    Letter(
        "medicare_notice",
        (
            "Medicare beneficiary update",
            "{patient} (Medicare Beneficiary Identifier {mbi}) asked us to update the record. SSN on file: {ssn}. "
            "Born {dob_us}.",
            "New phone {phone}; new street address {street}, {city}, {state} {zip}.",
        ),
    ),
)

NOTES = (
    "{next_patient}[{svc_date}] {patient} (MRN {mrn}, date of birth {dob}) seen by Dr. {provider} for {icd}. "
    "Billed CPT {cpt}. Callback {phone}.",
    "{next_patient}{svc_date}: Called {patient_lf} re: unpaid copay. Member ID {insurance_id}. "
    "Left voicemail at {phone}.",
    "{next_patient}Eligibility check for {patient} - DOB {dob_us}, SSN {ssn}, plan {payer}.",
    "{next_patient}{patient} emailed from {email}; updated address to {address}.",
)

NEGATIVE_SNIPPETS = (
    "Order {neg_10} shipped via ground.",
    "Part no. {neg_spaced} was restocked.",
    "Vendor invoice {neg_inword} is on hold.",
    "Follow-up visit {neg_date}.",
    "Lot {neg_dea} expired; discard.",
    "Reference {neg_npi} from the old system is obsolete.",
    "Batch {neg_9} closed.",
    "Item {neg_card} was returned to stock.",
    "Legacy key {neg_mbi} retired.",
    "Form {neg_ssn} archived.",
    "Bin {neg_aba} relabeled.",
)

JSON_DOCS = (
    (
        "patients",
        {
            "exportedBy": "practice-api",
            "patients": Each(
                3,
                8,
                {
                    "id": "{claim_no}",
                    "fullName": "{patient}",
                    "dateOfBirth": "{dob_iso}",
                    "ssn": "{ssn}",
                    "mrn": "{mrn}",
                    "contact": {"phone": "{phone}", "email": "{email}"},
                    "address": {"line1": "{street}", "city": "{city}", "state": "{state}", "zip": "{zip}"},
                    "insurance": {"payer": "{payer}", "memberId": "{insurance_id}"},
                },
            ),
        },
    ),
    (
        "claims",
        {
            "claims": Each(
                3,
                7,
                {
                    "claimId": "{claim_no}",
                    "patientName": "{patient_lf}",
                    "renderingNpi": "#{npi}",
                    "diagnosisCodes": ["{icd}", "{icd}"],
                    "lines": [{"cpt": "{cpt}", "charge": "#{amount}", "serviceDate": "{neg_date}"}],
                    "trackingNumber": "{neg_10}",
                },
            ),
        },
    ),
    (
        "payments",
        {
            "payments": Each(
                3,
                8,
                {
                    "payerName": "{patient}",
                    "card": {"number": "{card}"},
                    "clientIp": "{ip}",
                    "amount": "#{amount}",
                    "orderNumber": "{neg_9}",
                },
            ),
        },
    ),
    (
        "audit",
        {
            "events": Each(
                4, 10, {"user": "{email}", "ip": "{ip}", "patient": "{patient}", "mrn": "{mrn}", "event": "chart.view"}
            ),
        },
    ),
    (
        "providers",
        {
            "providers": Each(
                3,
                6,
                {"npi": "{next_provider}{npi}", "name": "{provider}", "dea": "{dea}", "phone": "{phone_provider}"},
                new_patient=False,
            ),
            "payout": {"routingNumber": "{aba}", "accountNumber": "{acct}"},
        },
    ),
)

TEMPLATES = TemplateSet(
    split="train",
    tables=TABLES,
    sheets=SHEETS,
    letters=LETTERS,
    notes=NOTES,
    negative_snippets=NEGATIVE_SNIPPETS,
    json_docs=JSON_DOCS,
    fhir={
        "bundle_type": "collection",
        "patients": (1, 3),
        "ssn_rate": 0.8,
        "ssn_bare_rate": 0.8,
        "narrative": False,
        "mrn_system": "http://lakeside.example.org/fhir/mrn",
        "member_system": "http://payer.example.com/member",
        "dea_system": "urn:oid:2.16.840.1.113883.4.814",
        "order_system": "http://lakeside.example.org/orders",
        "order_negative_rate": 0.5,
        "date_negative_rate": 0.5,
        "indent": 2,
    },
    x12={
        "terminator": "~\n",
        "sender": "LAKESIDE",
        "receiver": "CLEARHOUSE",
        "claims": (1, 3),
        "ref_sy_rate": 0.3,
        "claim_negative_rate": 0.3,
        "referring_rate": 0.3,
        "upper": True,
    },
    hl7={
        "app": "EHRADT",
        "facility": "LAKESIDE",
        "control_prefix": "MSG",
        "version": "2.5.1",
        "ssn_bare_rate": 0.5,
        "email_rate": 0.5,
        "mbi_in_pid": False,
        "nk1_rate": 0.4,
        "gt1_rate": 0.4,
        "nte_rate": 0.4,
        "ft1_transaction": "CHG",
        "messages": (2, 4),
    },
    hl7_events=("A04", "A08", "P03"),
    zip_folders=("exports/2024", "billing/outbound", "shared/front-desk"),
)
