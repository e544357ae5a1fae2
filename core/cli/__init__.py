"""The dicom-courier command line: a thin front end over the engine."""
