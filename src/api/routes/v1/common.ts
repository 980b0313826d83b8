// What every /v1 resource route shares: the 404 for an object that is missing (or another tenant's, which
// reads the same) and the 400 for a list cursor this API did not hand out.
import { InvalidCursorError } from "../../../db/cursor.js";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";

export const notFound = (what: string, id: string) => new HttpProblem(404, `no ${what} ${id}`);
export const badCursor = () => new HttpProblem(400, "invalid cursor: pass the nextCursor of a previous page unchanged", { type: PROBLEM_TYPES.validation, errors: [{ location: "querystring", pointer: "/cursor", detail: "is not a cursor this API handed out" }] });

/** A repository's list page; a cursor we did not hand out is the 400 problem, not an error. */
export async function listPage<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof InvalidCursorError) throw badCursor();
    throw err;
  }
}
