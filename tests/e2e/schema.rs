//! `schema.graphql` is what the server serves; regenerate it with `cargo run -- schema > schema.graphql`.

const COMMITTED: &str = include_str!("../../schema.graphql");

#[test]
fn committed_sdl_matches_the_schema() {
    assert!(
        api::web::graphql::sdl() == COMMITTED,
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql` and review the diff"
    );
}

#[test]
fn intake_schema_prints_the_committed_sdl() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_intake")).arg("schema").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap() == COMMITTED, "`intake schema` differs from schema.graphql");
}

#[test]
fn the_contract_is_all_there() {
    for line in [
        "scalar DateTime",
        "scalar Upload",
        "enum LeadStatus {\n\tPENDING\n\tREACHED_OUT\n}",
        "enum Role {\n\tADMIN\n\tATTORNEY\n}",
        "me: User!",
        "lead(id: ID!): Lead",
        "leads(filter: LeadFilter, orderBy: LeadOrder, first: Int, after: String, last: Int, before: String, \
         status: LeadStatus, search: String): LeadConnection!",
        "updateLead(id: ID!, input: UpdateLeadInput!, resume: Upload): Lead!",
        "addLeadNote(leadId: ID!, body: String!): LeadNote!",
        "assignLead(id: ID!, userId: ID): Lead!",
        "leadStats(from: DateTime, to: DateTime): LeadStats!",
        "leadSubmitted: Lead!",
        "leadUpdated(id: ID): Lead!",
        "history: [LeadEvent!]!",
        "assignedTo: User",
        "duplicateOf: Lead",
        "duplicates: [Lead!]!",
        "users: [User!]!",
        "submitLead(input: SubmitLeadInput!, resume: Upload!): LeadReceipt!",
        "login(email: String!, password: String!): AuthPayload!",
        "updateLeadStatus(id: ID!, status: LeadStatus!): Lead!",
        "createUser(input: CreateUserInput!): User!",
        "reachedOutBy: User",
        "totalCount: Int!",
    ] {
        assert!(COMMITTED.contains(line), "schema.graphql lacks `{line}`");
    }
}
