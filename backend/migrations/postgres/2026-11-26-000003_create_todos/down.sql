DROP TABLE todos;
DROP FUNCTION contains_folded(TEXT, TEXT);
DROP FUNCTION todo_due_key(DATE, TEXT);
