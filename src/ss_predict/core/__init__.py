"""Types every layer shares and nothing else: the alphabets, the `Protein` record, record ids as file names, and safe file writing. Imports no other part of ss_predict but `errors`."""
