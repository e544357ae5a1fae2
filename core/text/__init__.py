"""Text for people: PACS values made safe for terminals, widgets and CSV, and DICOM values (PN,
DA, TM, CS) formatted for reading.
"""
