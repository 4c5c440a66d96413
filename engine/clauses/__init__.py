"""The standard's clauses as data, the score sources that rate them, and the clause-coverage map."""
