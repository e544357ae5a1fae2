"""The embedded demo PACS: a real Q/R SCP with generated studies and a workstation receiver."""
