#!/usr/bin/env python3
"""Derives the shipped v2 -> FHIR code maps (mappings/tables/*.csv) from the HL7 v2-to-FHIR IG
vocabulary concept maps (shared/testdata/v2-to-fhir/hl7-v2-to-fhir-ig/codesystems).

Usage: mappings/tables/derive_from_ig.py IG_CODESYSTEMS_DIR OUT_DIR

The IG sheets have two header rows and columns
  0 v2 code, 1 v2 text, 2 v2 code system, 3-5 condition, then the FHIR code, (a spare column in
  most sheets,) display and FHIR code system, ... comments; positions are read from the header.
Rows without a v2 code or without a FHIR code are left out: the mapper carries such codes through
with their original v2 system, so nothing is lost. The hand-written tables (coding systems,
assigning authorities, NHS number verification status) are not produced here.
"""
import csv
import io
import pathlib
import sys

# output name -> (IG sheet, v2 table)
MAPS = {
    "0001-administrative-gender": ("AdministrativeSex.csv", "HL70001"),
    "0002-marital-status": ("MaritalStatus.csv", "HL70002"),
    "0003-encounter-status": ("Event_EncounterStatus.csv", "HL70003"),
    "0004-encounter-class": ("PatientClass_EncounterClass.csv", "HL70004"),
    "0004-encounter-status": ("PatientClass_EncounterStatus.csv", "HL70004"),
    "0007-admission-type": ("AdmissionType.csv", "HL70007"),
    "0052-diagnosis-role": ("DiagnosisType.csv", "HL70052"),
    "0063-relationship": ("Relationship.csv", "HL70063"),
    "0078-interpretation": ("InterpretationCodes.csv", "HL70078"),
    "0085-observation-status": ("ObservationResultStatusCodesInterpretation.csv", "HL70085"),
    "0038-service-request-status": ("OrderStatus.csv", "HL70038"),
    "0119-service-request-status": ("OrderControlCode_ServiceRequest.status.csv", "HL70119"),
    "0123-diagnostic-report-status": ("ResultStatus_Non-Queries.csv", "HL70123"),
    "0127-allergy-category": ("AllergenType_AllergyIntoleranceCategory.csv", "HL70127"),
    "0127-allergy-type": ("AllergyType.csv", "HL70127"),
    "0128-allergy-criticality": ("AllergySeverity_AllergyIntolerance.criticality.csv", "HL70128"),
    "0128-reaction-severity": ("AllergySeverity_AllergyIntolerance.reaction.severity.csv", "HL70128"),
    "0131-contact-role": ("ContactRole.csv", "HL70131"),
    "0136-yes-no": ("YesNoIndicator.csv", "HL70136"),
    "0190-address-use": ("AddressType_Use.csv", "HL70190"),
    "0190-address-type": ("AddressType_Type.csv", "HL70190"),
    "0200-name-use": ("NameType.csv", "HL70200"),
    "0201-telecom-use": ("TelecommunicationUseCode.csv", "HL70201"),
    "0202-telecom-system": ("TelecommunicationEquipmentType.csv", "HL70202"),
    "0203-identifier-type": ("IdentifierType.csv", "HL70203"),
}

HEADER = ["v2_system", "v2_code", "v2_display", "fhir_system", "fhir_code", "fhir_display"]


def derive(src: pathlib.Path, v2_table: str, name: str) -> str:
    out = io.StringIO()
    out.write(f"# {name}: derived by derive_from_ig.py from the HL7 v2-to-FHIR IG concept map "
              f"{src.name} (CC0-1.0); see SOURCES.md\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    with src.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    # Column positions from the second header row: the FHIR "Code", "Display" and "Code System"
    # are the ones after the condition columns (sheets differ by one spare column).
    header = [c.strip() for c in rows[1]]
    code_col = header.index("Code", 3)
    display_col = header.index("Display", code_col)
    system_col = header.index("Code System", code_col)
    for row in rows[2:]:
        row = [c.strip() for c in row] + [""] * 12
        v2_code, v2_text, fhir_code = row[0], row[1], row[code_col]
        display = row[display_col] or row[code_col + 1 if code_col + 1 < display_col else display_col]
        system = row[system_col]
        if not v2_code or not fhir_code or not system:
            continue
        writer.writerow([v2_table, v2_code, v2_text, system, fhir_code, display])
    return out.getvalue()


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src_dir, out_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for name, (sheet, table) in MAPS.items():
        (out_dir / f"{name}.csv").write_text(derive(src_dir / sheet, table, name), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
