// Chat conversations → text, as transformers' apply_chat_template renders them: the checkpoint's chat_template
// (tokenizer_config.json) through @huggingface/jinja, Hugging Face's own Jinja port, with the bos/eos strings
// the template may print and add_generation_prompt false (a calibration document is a finished conversation).
import { Template } from "@huggingface/jinja";
import { DatasetError } from "./errors.js";
import type { TextTokenizer } from "./tokenizer.js";

export interface ChatMessage {
  role: string;
  content: string;
}
/** One conversation → one document's text; throws Error with the template's own message when it refuses one. */
export type ChatRenderer = (messages: ChatMessage[]) => string;

/**
 * The renderer of a tokenizer's chat template, or undefined when it has none. BOS decision: token streams put
 * BOS before every document already (text-dataset.ts), so a rendered conversation that starts with the
 * bos_token string has it removed when the tokenizer has a BOS id: each conversation carries exactly one BOS,
 * as an apply_chat_template(tokenize=True) conversation does.
 */
export function chatRenderer(tokenizer: Pick<TextTokenizer, "chat" | "bosId">): ChatRenderer | undefined {
  const chat = tokenizer.chat;
  if (!chat) return undefined;
  let template: Template;
  try {
    template = new Template(chat.template);
  } catch (err) {
    throw new DatasetError(`the checkpoint's chat_template does not parse: ${(err as Error).message}`);
  }
  const bos = tokenizer.bosId !== undefined ? chat.bosToken : undefined;
  return (messages) => {
    const text = template.render({ messages, bos_token: chat.bosToken ?? "", eos_token: chat.eosToken ?? "", add_generation_prompt: false });
    return bos && text.startsWith(bos) ? text.slice(bos.length) : text;
  };
}

/** Checks one conversation's shape; `where` prefixes the reason ("line 17", "row 3 of column `messages`"). */
export function asConversation(value: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) throw new DatasetError(`${where}: \`messages\` must be a non-empty array of {role, content}`);
  return value.map((m, i) => {
    const o = m as { role?: unknown; content?: unknown } | null;
    if (typeof o !== "object" || o === null || typeof o.role !== "string" || typeof o.content !== "string")
      throw new DatasetError(`${where}: messages[${i}] must be an object with string \`role\` and \`content\``);
    return { role: o.role, content: o.content };
  });
}

/** Renders one conversation, naming where it came from when the template refuses it (e.g. roles that do not alternate). */
export function renderConversation(render: ChatRenderer | undefined, messages: ChatMessage[], where: string): string {
  if (!render) throw new DatasetError(`${where}: a \`messages\` conversation needs the checkpoint's chat_template, and its tokenizer_config.json has none; use \`text\` rows`);
  try {
    return render(messages);
  } catch (err) {
    throw new DatasetError(`${where}: the chat template refused the conversation: ${(err as Error).message}`);
  }
}
