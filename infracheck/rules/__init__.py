"""The rules: the typed JMESPath dialect and the operators a catalog is written in
(values, dialect, operators, validate), and the evaluate stage that judges a
command's document with them (shapes, evaluate).

Empty on purpose: the catalog loads the dialect to validate without loading evaluation.
"""
