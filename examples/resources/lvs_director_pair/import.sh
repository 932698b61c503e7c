# NAME@DIRECTOR1,DIRECTOR2 — the directors in the order of the `directors` list.
terraform import lvs_director_pair.edge edge@198.51.100.11,198.51.100.12
