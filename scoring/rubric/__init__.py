"""Rubric-graded environments (PaperBench style): rubric trees, an LLM judge, grading runs, judge evaluation.

- model.py     the rubric tree: load_rubric / loads_rubric / parse_rubric (RubricError lists every
               RubricProblem(path, field, message)), node_score / all_scores (weighted averages;
               ungraded leaves (None) are left out and the weights renormalised).
- judge.py     JudgeConfig (from_env: REARENA_JUDGE_BASE_URL, REARENA_JUDGE_MODEL, REARENA_JUDGE_API_KEY_ENV,
               REARENA_JUDGE_PRICE), Judge.grade / grade_many (threads), parse_grade, select_files.
- grading.py   run_reproduce, grade_candidate (full or code-only), GradingResult with set_override,
               save_grades / load_grades (rubric_grades.json); grades_from_dict (in memory).
- evaluate.py  judge_eval against human_grades.json (accuracy, precision, recall, F1; positive = 1).
- view.py      tree_rows / render_text for a rubric tree with grades.
- cli.py       `rearena judge-eval`.

Rubric JSON: {"id", "requirements", "weight" (>= 0, default 1), "children": [...]}; a leaf has no
children and a "category" in code_development | code_execution | result_analysis; "notes" is allowed.
"""
