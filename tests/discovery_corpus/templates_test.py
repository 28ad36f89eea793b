"""TEST split templates: written once by the blind corpus author, frozen, never read while tuning the engine.

No header, sentence, label or JSON key here is shared with ``templates_train``.
"""

from __future__ import annotations

from .kit import Each, Letter, Table, TemplateSet

TABLES = (
    Table(
        "demographics_extract",
        (
            ("pt_name", "{patient}"),
            ("birth_dt", "{dob_iso}"),
            ("gender", "{sex}"),
            ("soc_sec_no", "{ssn_bare}"),
            ("chart_no", "{mrn}"),
            ("addr1", "{street}"),
            ("city", "{city}"),
            ("st", "{state}"),
            ("postal", "{zip}"),
            ("cell", "{phone}"),
            ("e_mail", "{email}"),
            ("plan", "{payer}"),
            ("subscriber_id", "{insurance_id}"),
            ("wristband", "{neg_inword}"),
            ("referral_no", "{neg_10}"),
        ),
        rows=(15, 35),
    ),
    Table(
        "prescriber_list",
        (
            ("Prescriber Name", "{next_provider}{provider}"),
            ("Individual NPI", "{npi}"),
            ("DEA Registration", "{dea}"),
            ("Dept", "{specialty}"),
            ("Direct Line", "{phone_provider}"),
            ("Formulary Item", "{neg_npi}"),
            ("Lot", "{neg_dea}"),
        ),
        rows=(8, 16),
    ),
    Table(
        "pos_transactions",
        (
            ("Txn Date", "{neg_date}"),
            ("Guarantor", "{patient_lf}"),
            ("PAN", "{card}"),
            ("Total", "{amount}"),
            ("Terminal Ref", "{neg_9}"),
            ("Ship Tracking", "{neg_10}"),
            ("SKU", "{neg_card}"),
        ),
    ),
    Table(
        "line_items",
        (
            ("Svc From", "{neg_date}"),
            ("Encounter", "{claim_no}"),
            ("Member", "{patient_ulf}"),
            ("Proc Code", "{cpt}"),
            ("Primary ICD-10", "{icd}"),
            ("Secondary ICD-10", "{icd}"),
            ("Attending NPI", "{npi}"),
            ("Billed", "{amount}"),
            ("Part #", "{neg_spaced}"),
        ),
    ),
    Table(
        "mbi_crosswalk",
        (
            ("Enrollee", "{patient_lf}"),
            ("Date Of Birth", "{dob_us}"),
            ("Medicare No.", "{mbi_dashed}"),
            ("Social Security", "{ssn}"),
            ("Contact #", "{phone}"),
            ("Residence", "{address}"),
            ("Legacy Key", "{neg_mbi}"),
            ("Form", "{neg_ssn}"),
        ),
    ),
    Table(
        "ach_payouts",
        (
            ("Payee Name", "{patient}"),
            ("ABA", "{aba_any}"),
            ("Bank Acct", "{acct_any}"),
            ("Amt", "{amount}"),
            ("Bin", "{neg_aba}"),
            ("Notify Email", "{email}"),
        ),
        rows=(10, 22),
    ),
    Table(
        "session_audit",
        (
            ("when", "{svc_date} {time}"),
            ("login", "{email}"),
            ("remote_addr", "{ip}"),
            ("record_of", "{patient}"),
            ("record_mrn", "{mrn}"),
            ("op", "print"),
            ("ticket", "{neg_9}"),
        ),
    ),
)

SHEETS = (
    Table(
        "open_receivables",
        (
            ("Guarantor", "{patient_ulf}"),
            ("Birthdate", "{dob}"),
            ("Encounter #", "{claim_no}"),
            ("Carrier", "{payer}"),
            ("Policy / Subscriber No", "{insurance_id}"),
            ("Outstanding", "{amount}"),
            ("Aging Bucket", "61-90"),
        ),
    ),
    Table(
        "stored_payment_methods",
        (
            ("Name on Card", "{patient_lf}"),
            ("Card Number", "{card}"),
            ("Postal Code", "{zip}"),
            ("Mobile", "{phone}"),
            ("Receipt Email", "{email}"),
        ),
    ),
    Table(
        "provider_enrollment",
        (
            ("Clinician", "{next_provider}{provider_lf}"),
            ("Type 1 NPI", "{npi}"),
            ("DEA Reg #", "{dea}"),
            ("Department", "{specialty}"),
            ("Pager", "{phone_provider}"),
            ("Work Email", "{email_provider}"),
        ),
        rows=(5, 12),
    ),
    Table(
        "appeals_tracker",
        (
            ("Member Name", "{patient}"),
            ("Born", "{dob_long}"),
            ("Soc. Sec. #", "{ssn}"),
            ("HCPCS/CPT", "{cpt}"),
            ("ICD-10-CM", "{icd}"),
            ("Street", "{street}"),
            ("Zip+4", "{zip}"),
            ("Uploaded From IP", "{ip}"),
            ("Bank Routing", "{aba_any}"),
            ("Deposit Account", "{acct_any}"),
        ),
    ),
)

LETTERS = (
    Letter(
        "consult_request",
        (
            "{practice} | {org_address} | Main line {phone_org}",
            "Patient: {patient_lf}\nBirth date: {dob_us}\nChart #: {mrn}",
            "Dr. {provider2},",
            "I am referring {patient}, whom I have treated for {icd}, for further evaluation. Our notes from "
            "{neg_date} are enclosed, together with the procedure billed (HCPCS/CPT {cpt}).",
            "Kindly reply to {provider} (individual NPI: {npi}), by e-mail {email_provider} "
            "or by phone {phone_provider}.",
            "Warm regards,\nDr. {provider_last}",
        ),
    ),
    Letter(
        "direct_deposit_change",
        (
            "Change of direct deposit - vendor file update",
            "Group: {practice}; organization NPI {npi_org}",
            "ABA routing no. {aba}, DDA account no. {acct}",
            "Authorized by {contact} ({phone_org}). Quote {neg_inword} when you call; shipment {neg_10} is unrelated.",
        ),
    ),
    Letter(
        "collections_call",
        (
            "Account review - {patient_ulf}",
            "Spoke with {guarantor} about the open balance (${amount}); they paid with {card}. "
            "Statement address verified as {address}.",
            "Reach the patient on {phone} or via {email}. Last portal session from IP {ip}.",
        ),
    ),
    Letter(
        "auth_form",
        (
            "Precertification form",
            "Insured: {patient}\nSubscriber number: {insurance_id}\nBirthdate: {dob_long}\nResidence: {address}",
            "Ordering physician Dr. {provider} - NPI# {npi} - DEA reg. {dea}",
            "Service requested: procedure code {cpt}; dx {icd} with {icd}.",
            "Supply ticket {neg_9} opened on {neg_date}; item {neg_card} on back order.",
        ),
    ),
    Letter(
        "beneficiary_update",
        (
            "Beneficiary record change",
            "Per phone call, {patient} - MBI {mbi_dashed} - confirmed their Social Security number {ssn} and "
            "birth date {dob}. Legacy key {neg_mbi} no longer used.",
            "Updated contact: {phone}; residence {street}, {city}, {state} {zip}.",
        ),
    ),
)

NOTES = (
    "{next_patient}{svc_date} - Pt {patient_ulf} (chart {mrn}; born {dob_us}) evaluated by Dr. {provider_last}. "
    "Assessment {icd}; procedure {cpt} billed. Phone {phone}.",
    "{next_patient}Collector note {svc_date}: {patient} disputes the copay. Subscriber ID {insurance_id}. "
    "Texted {phone}.",
    "{next_patient}Benefits verified for {patient_lf}, birthdate {dob}, SS# {ssn}, carrier {payer}.",
    "{next_patient}Message from {patient} ({email}): new home address {address}.",
    "{next_patient}Card on file for {patient} updated to {card}; request came from {ip}.",
)

NEGATIVE_SNIPPETS = (
    "Shipment {neg_10} left the warehouse.",
    "Replacement filter part {neg_spaced} installed.",
    "Supplier doc {neg_inword} awaiting approval.",
    "Patient was seen on {neg_date} and will follow up on {neg_date}.",
    "Expired lot {neg_dea} destroyed per policy.",
    "Old interface key {neg_npi} removed from config.",
    "Ticket {neg_9} resolved.",
    "SKU {neg_card} discontinued.",
    "Asset tag {neg_mbi} reassigned.",
    "Scanned page {neg_ssn} filed.",
    "Pallet {neg_aba} received.",
    "Courier waybill {neg_10} logged.",
    "Serial {neg_spaced} registered to the printer.",
)

JSON_DOCS = (
    (
        "member_sync",
        {
            "source": "ehr-sync",
            "members": Each(
                3,
                8,
                {
                    "ref": "{claim_no}",
                    "display_name": "{patient_lf}",
                    "birth_date": "{dob_us}",
                    "ssn_last9": "{ssn_bare}",
                    "chart_number": "{mrn}",
                    "phones": [{"kind": "mobile", "number": "{phone}"}],
                    "email_address": "{email}",
                    "home": {
                        "street_line": "{street}",
                        "locality": "{city}",
                        "region": "{state}",
                        "postal_code": "{zip}",
                    },
                    "coverage": {"carrier_name": "{payer}", "subscriber_number": "{insurance_id}"},
                    "barcode": "{neg_inword}",
                },
            ),
        },
    ),
    (
        "encounters",
        {
            "data": Each(
                3,
                7,
                {
                    "encounter_id": "{claim_no}",
                    "member": "{patient}",
                    "attending_npi": "{npi}",
                    "icd10": ["{icd}"],
                    "procedures": [{"hcpcs_cpt": "{cpt}", "billed": "#{amount}", "dos": "{neg_date}"}],
                    "shipment": "{neg_10}",
                    "ticket": "{neg_9}",
                },
            ),
        },
    ),
    (
        "charges",
        {
            "transactions": Each(
                3,
                8,
                {
                    "card_holder": "{patient_ulf}",
                    "pan": "{card}",
                    "remote_ip": "{ip}",
                    "total": "#{amount}",
                    "sku": "{neg_card}",
                    "part": "{neg_spaced}",
                },
            ),
        },
    ),
    (
        "access_log",
        {
            "log": Each(
                4,
                10,
                {
                    "actor_email": "{email}",
                    "source_address": "{ip}",
                    "subject_name": "{patient}",
                    "subject_chart": "{mrn}",
                    "action": "record.export",
                    "asset": "{neg_mbi}",
                },
            ),
        },
    ),
    (
        "prescribers",
        {
            "prescribers": Each(
                3,
                6,
                {
                    "individual_npi": "#{next_provider}{npi}",
                    "full_name": "{provider_lf}",
                    "dea_registration": "{dea}",
                    "office_phone": "{phone_provider}",
                    "lot": "{neg_dea}",
                },
                new_patient=False,
            ),
            "settlement": {"aba_routing": "{aba}", "dda_account": "{acct}", "bin": "{neg_aba}"},
        },
    ),
)

TEMPLATES = TemplateSet(
    split="test",
    tables=TABLES,
    sheets=SHEETS,
    letters=LETTERS,
    notes=NOTES,
    negative_snippets=NEGATIVE_SNIPPETS,
    json_docs=JSON_DOCS,
    fhir={
        "bundle_type": "transaction",
        "patients": (2, 4),
        "ssn_rate": 0.7,
        "ssn_bare_rate": 0.4,
        "narrative": True,
        "mrn_system": "urn:oid:2.16.840.1.113883.3.7418.1.1",
        "member_system": "urn:oid:2.16.840.1.113883.3.7418.2.9",
        "dea_system": "urn:oid:2.16.840.1.113883.4.814",
        "order_system": "urn:oid:2.16.840.1.113883.3.7418.5.3",
        "order_negative_rate": 0.7,
        "date_negative_rate": 0.7,
        "indent": None,
    },
    x12={
        "terminator": "~",
        "sender": "SUMMITORTHO",
        "receiver": "AVAILITY",
        "claims": (2, 4),
        "ref_sy_rate": 0.5,
        "claim_negative_rate": 0.5,
        "referring_rate": 0.6,
    },
    hl7={
        "app": "REGSYS",
        "facility": "SUMMIT",
        "control_prefix": "CTRL",
        "version": "2.3",
        "ssn_bare_rate": 0.7,
        "email_rate": 0.6,
        "mbi_in_pid": True,
        "nk1_rate": 0.6,
        "gt1_rate": 0.6,
        "nte_rate": 0.7,
        "ft1_transaction": "PROC",
        "messages": (2, 5),
        "upper": True,
    },
    hl7_events=("A01", "A03", "P03"),
    zip_folders=("Outbound/ERA", "Scans/2025-02", "HIM/release-of-info", "Transfers/Clinic B"),
    note_separator="\n----\n",
)
