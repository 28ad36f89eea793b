"""Patient statements: batch runs, the PDF (balance per encounter, aging, how to pay), encrypted storage, history."""
