"""Reading CRMs into the staging store: connector specs compiled to dlt sources, run with tuned settings."""
