"""The Qt-free DICOM engine: nodes, C-ECHO, C-FIND, C-MOVE, errors a person can act on."""
