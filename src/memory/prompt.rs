//! Agno 3.1.10's texts, verbatim: the memory manager's system message and tools
//! (`agno/memory/manager.py`), the agent's `update_user_memory` tool
//! (`agno/agent/_default_tools.py`), the memory and summary sections of an agent's system message
//! (`agno/agent/_messages.py`), and the summary model's prompt and response format
//! (`agno/session/summary.py`).

use serde_json::{Value, json};

use crate::model::ToolSpec;

const CAPTURE: &str =
    "Memories should capture personal information about the user that is relevant to the current conversation, such as:
- Personal facts: name, age, occupation, location, interests, and preferences
- Opinions and preferences: what the user likes, dislikes, enjoys, or finds frustrating
- Significant life events or experiences shared by the user
- Important context about the user's current situation, challenges, or goals
- Any other details that offer meaningful insight into the user's personality, perspective, or needs
";

const HEAD: &[&str] = &[
    "You are a Memory Manager that is responsible for managing information and preferences about the user. You will be provided with a criteria for memories to capture in the <memories_to_capture> section and a list of existing memories in the <existing_memories> section.",
    "",
    "## When to add or update memories",
    "- Your first task is to decide if a memory needs to be added, updated, or deleted based on the user's message OR if no changes are needed.",
    "- If the user's message meets the criteria in the <memories_to_capture> section and that information is not already captured in the <existing_memories> section, you should capture it as a memory.",
    "- If the users messages does not meet the criteria in the <memories_to_capture> section, no memory updates are needed.",
    "- If the existing memories in the <existing_memories> section capture all relevant information, no memory updates are needed.",
    "",
    "## How to add or update memories",
    "- If you decide to add a new memory, create memories that captures key information, as if you were storing it for future reference.",
    "- Memories should be a brief, third-person statements that encapsulate the most important aspect of the user's input, without adding any extraneous information.",
    "  - Example: If the user's message is 'I'm going to the gym', a memory could be `John Doe goes to the gym regularly`.",
    "  - Example: If the user's message is 'My name is John Doe', a memory could be `User's name is John Doe`.",
    "- Don't make a single memory too long or complex, create multiple memories if needed to capture all the information.",
    "- Don't repeat the same information in multiple memories. Rather update existing memories if needed.",
    "- If a user asks for a memory to be updated or forgotten, remove all reference to the information that should be forgotten. Don't say 'The user used to like ...`",
    "- When updating a memory, append the existing memory with new information rather than completely overwriting it.",
    "- When a user's preferences change, update the relevant memories to reflect the new preferences but also capture what the user's preferences used to be and what has changed.",
    "",
    "## Criteria for creating memories",
    "Use the following criteria to determine if a user's message should be captured as a memory.",
    "",
    "<memories_to_capture>",
];

/// Which of the memory tools the memory model is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// `add_memory`.
    pub add: bool,
    /// `update_memory`.
    pub update: bool,
    /// `delete_memory`.
    pub delete: bool,
    /// `clear_memory`.
    pub clear: bool,
}

impl Offer {
    /// What Agno offers after a run (`create_user_memories`): add, update, delete.
    pub const AFTER_RUN: Offer = Offer { add: true, update: true, delete: true, clear: false };
    /// What the `update_user_memory` tool offers: everything its description promises (add,
    /// update, delete, clear), each scoped to the run's user. Agno's default `MemoryManager`
    /// offers only add and update here, although the tool's text promises deleting and clearing.
    pub const TASK: Offer = Offer { add: true, update: true, delete: true, clear: true };
}

/// The memory manager's system message, with the user's `existing` memories (id, text).
pub fn manager_system(existing: &[(String, String)], offer: Offer) -> String {
    let mut lines: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
    lines.push(CAPTURE.to_string());
    lines.extend(
        [
            "</memories_to_capture>",
            "",
            "## Updating memories",
            "You will also be provided with a list of existing memories in the <existing_memories> section. You can:",
            "  - Decide to make no changes.",
        ]
        .map(str::to_string),
    );
    let tools = [
        (offer.add, "  - Decide to add a new memory, using the `add_memory` tool."),
        (offer.update, "  - Decide to update an existing memory, using the `update_memory` tool."),
        (offer.delete, "  - Decide to delete an existing memory, using the `delete_memory` tool."),
        (offer.clear, "  - Decide to clear all memories, using the `clear_memory` tool."),
    ];
    lines.extend(tools.iter().filter(|(on, _)| *on).map(|(_, l)| l.to_string()));
    lines.push("You can call multiple tools in a single response if needed. ".into());
    lines
        .push("Only add or update memories if it is necessary to capture key information provided by the user.".into());
    if !existing.is_empty() {
        lines.push("\n<existing_memories>".into());
        for (id, memory) in existing {
            lines.push(format!("ID: {id}"));
            lines.push(format!("Memory: {memory}"));
            lines.push(String::new());
        }
        lines.push("</existing_memories>".into());
    }
    lines.join("\n")
}

const TOPICS_DOC: &str = "(Optional[List[str]]) The topics of the memory (e.g. [\"name\", \"hobbies\", \"location\"]).";

/// The memory tools offered, as Agno declares them (strict function schemas), sorted by name as
/// Agno's model layer sends tools.
pub fn manager_tools(offer: Offer) -> Vec<ToolSpec> {
    let topics = json!({"type": "array", "items": {"type": "string"}, "description": TOPICS_DOC});
    let mut out = Vec::new();
    if offer.add {
        out.push(ToolSpec {
            name: "add_memory".into(),
            description: "Use this function to add a memory to the database.".into(),
            parameters: json!({"type": "object", "properties": {
                "memory": {"type": "string", "description": "(str) The memory to be added."},
                "topics": topics,
            }, "additionalProperties": false, "required": ["memory", "topics"]}),
        });
    }
    if offer.update {
        out.push(ToolSpec {
            name: "update_memory".into(),
            description: "Use this function to update an existing memory in the database.".into(),
            parameters: json!({"type": "object", "properties": {
                "memory_id": {"type": "string", "description": "(str) The id of the memory to be updated."},
                "memory": {"type": "string", "description": "(str) The updated memory."},
                "topics": topics,
            }, "additionalProperties": false, "required": ["memory_id", "memory", "topics"]}),
        });
    }
    if offer.delete {
        out.push(ToolSpec {
            name: "delete_memory".into(),
            description: "Use this function to delete a single memory from the database.".into(),
            parameters: json!({"type": "object", "properties": {
                "memory_id": {"type": "string", "description": "(str) The id of the memory to be deleted."},
            }, "additionalProperties": false, "required": ["memory_id"]}),
        });
    }
    if offer.clear {
        out.push(ToolSpec {
            name: "clear_memory".into(),
            description: "Use this function to remove all (or clear all) memories from the database.".into(),
            parameters: json!({"type": "object", "properties": {}, "additionalProperties": false, "required": []}),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The agent's `update_user_memory` tool (agentic memory).
pub fn update_user_memory_spec() -> ToolSpec {
    ToolSpec {
        name: "update_user_memory".into(),
        description: "Use this function to submit a task to modify the Agent's memory.\nDescribe the task in detail and be specific.\nThe task can include adding a memory, updating a memory, deleting a memory, or clearing all memories.".into(),
        parameters: json!({"type": "object", "properties": {
            "task": {"type": "string", "description": "The task to update the memory. Be specific and describe the task in detail."},
        }, "required": ["task"], "additionalProperties": false}),
    }
}

/// The memories section of an agent's system message (Agno's text, its own newlines).
pub fn memories_section(memories: &[String], agentic: bool) -> String {
    let mut s = String::new();
    if memories.is_empty() {
        s.push_str("You have the capability to retain memories from previous interactions with the user, but have not had any interactions with the user yet.\n");
    } else {
        s.push_str("You have access to user info and preferences from previous interactions that you can use to personalize your response:\n\n");
        s.push_str("<memories_from_previous_interactions>");
        for m in memories {
            s.push_str("\n- ");
            s.push_str(m);
        }
        s.push_str("\n</memories_from_previous_interactions>\n\n");
        s.push_str("Note: this information is from previous interactions and may be updated in this conversation. You should always prefer information from this conversation over the past memories.\n");
    }
    if agentic {
        s.push_str(concat!(
            "\n<updating_user_memories>\n",
            "- You have access to the `update_user_memory` tool that you can use to add new memories, update existing memories, delete memories, or clear all memories.\n",
            "- If the user's message includes information that should be captured as a memory, use the `update_user_memory` tool to update your memory database.\n",
            "- Memories should include details that could personalize ongoing interactions with the user.\n",
            "- Use this tool to add new memories or update existing memories that you identify in the conversation.\n",
            "- Use this tool if the user asks to update their memory, delete a memory, or clear all memories.\n",
            "- If you use the `update_user_memory` tool, remember to pass on the response to the user.\n",
            "</updating_user_memories>\n\n",
        ));
    }
    s
}

/// The session summary section of an agent's system message.
pub fn summary_section(summary: &str) -> String {
    format!(
        "Here is a brief summary of your previous interactions:\n\n<summary_of_previous_interactions>\n{summary}\n</summary_of_previous_interactions>\n\nNote: this information is from previous interactions and may be outdated. You should ALWAYS prefer information from this conversation over the past summary.\n\n"
    )
}

/// The summary model's system message over `conversation` (role, text; text None is
/// written as Python writes it, `None`).
pub fn summary_system(conversation: &[(String, Option<String>)]) -> String {
    let mut s = String::from(
        "Analyze the following conversation between a user and an assistant, and extract the following details:\n- Summary (str): Provide a concise summary of the session, focusing on important information that would be helpful for future interactions.\n- Topics (Optional[List[str]]): List the topics discussed in the session.\nKeep the summary concise and to the point. Only include relevant information.\n",
    );
    s.push_str("<conversation>");
    let lines: Vec<String> = conversation
        .iter()
        .filter_map(|(role, text)| match role.as_str() {
            // A user message without text (media only) is skipped: agno-run takes no media.
            "user" => text.as_deref().filter(|t| !t.trim().is_empty()).map(|t| format!("User: {t}")),
            "assistant" | "model" => Some(format!("Assistant: {}\n", text.as_deref().unwrap_or("None"))),
            _ => None,
        })
        .collect();
    s.push_str(&lines.join("\n"));
    s.push_str("</conversation>");
    s
}

/// The user message that asks for the summary.
pub const SUMMARY_REQUEST: &str = "Provide the summary of the conversation.";

/// The `response_format` Agno's `OpenAIChat` sends for the summary (native structured outputs
/// of `SessionSummaryResponse`).
pub fn summary_response_format() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": "SessionSummaryResponse",
            "schema": {
                "description": "Model for Session Summary.",
                "properties": {
                    "summary": {
                        "description": "Summary of the session. Be concise and focus on only important information. Do not make anything up.",
                        "title": "Summary",
                        "type": "string"
                    },
                    "topics": {
                        "anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}],
                        "description": "Topics discussed in the session.",
                        "title": "Topics"
                    }
                },
                "required": ["summary", "topics"],
                "title": "SessionSummaryResponse",
                "type": "object",
                "additionalProperties": false
            },
            "strict": true
        }
    })
}

/// The system message of Agno's `SUMMARIZE` memory optimization
/// (`agno/memory/strategies/summarize.py`).
pub const OPTIMIZE_SYSTEM: &str = "You are a memory compression assistant. Your task is to summarize multiple memories about a user\ninto a single comprehensive summary while preserving all key facts.\n\nRequirements:\n- Combine related information from all memories\n- Preserve all factual information\n- Remove redundancy and consolidate repeated facts\n- Create a coherent narrative about the user\n- Maintain third-person perspective\n- Do not add information not present in the original memories\n\nReturn only the summarized memory text, nothing else.";

/// The user message of the optimization over `memories`.
pub fn optimize_request(memories: &[String]) -> String {
    let combined: Vec<String> = memories.iter().enumerate().map(|(i, m)| format!("Memory {}: {m}", i + 1)).collect();
    format!("Summarize these memories into a single summary:\n\n{}", combined.join("\n\n"))
}
